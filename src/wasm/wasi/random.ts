// Sources of random_get bytes: the system's CSPRNG, or a seeded, reproducible stream for deterministic runs.
import { createHash, randomFillSync } from 'node:crypto';

export type RandomSource = (target: Uint8Array) => void;

export const systemRandom: RandomSource = (target) => {
  // randomFillSync caps one call at 2^31-1 bytes.
  for (let at = 0; at < target.length; at += 65_536) randomFillSync(target.subarray(at, Math.min(at + 65_536, target.length)));
};

/**
 * The bytes SHA-256(seed ‖ counter) for counter = 0, 1, 2, ... (counter as 8 little-endian bytes, seed as
 * UTF-8 of its decimal or string form), read as one stream: the same seed gives the same bytes anywhere.
 */
export function seededRandom(seed: number | string): RandomSource {
  const seedBytes = Buffer.from(String(seed), 'utf8');
  let counter = 0n;
  let block = new Uint8Array(0);
  let used = 0;
  return (target) => {
    for (let at = 0; at < target.length; ) {
      if (used === block.length) {
        const counterBytes = Buffer.alloc(8);
        counterBytes.writeBigUInt64LE(counter++);
        block = createHash('sha256').update(seedBytes).update(counterBytes).digest();
        used = 0;
      }
      const n = Math.min(block.length - used, target.length - at);
      target.set(block.subarray(used, used + n), at);
      used += n;
      at += n;
    }
  };
}
