// Packs an instance's state for keeping and sending (deflate, sha256) and unpacks it, checking the hash.
import { createHash } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import type { InstanceState } from './instance.js';

export interface PackedState {
  memory: Uint8Array | null;
  memoryBytes: number;
  hash: string;
  globals: InstanceState['globals'];
  messages: number;
}

/** Thrown for packed state that does not inflate, or whose memory does not match its hash or size. */
export class StateIntegrityError extends Error {
  override readonly name = 'StateIntegrityError';
}

export function memoryHash(memory: Uint8Array | null): string {
  return `sha256:${createHash('sha256').update(memory ?? new Uint8Array(0)).digest('hex')}`;
}

/** Deflates the memory at level 1: memory is mostly zeros and repeated pages, and this runs on the lane's thread. */
export function packState(state: InstanceState): PackedState {
  const memory = state.memory === null ? null : new Uint8Array(deflateSync(state.memory, { level: 1 }));
  return { memory, memoryBytes: state.memory?.length ?? 0, hash: memoryHash(state.memory), globals: state.globals, messages: state.messages };
}

export function unpackState(packed: PackedState): InstanceState {
  let memory: Uint8Array | null = null;
  if (packed.memory !== null) {
    try {
      memory = new Uint8Array(inflateSync(packed.memory, { maxOutputLength: Math.max(packed.memoryBytes, 1) }));
    } catch (err) {
      throw new StateIntegrityError(`the memory does not inflate to its memory_bytes (${packed.memoryBytes}): ${err instanceof Error ? err.message : String(err)}`);
    }
    if (memory.length !== packed.memoryBytes) throw new StateIntegrityError(`the memory inflates to ${memory.length} bytes, not memory_bytes (${packed.memoryBytes})`);
  }
  const hash = memoryHash(memory);
  if (hash !== packed.hash) throw new StateIntegrityError(`the memory hashes to ${hash}, not to the snapshot's hash ${packed.hash}`);
  return { memory, globals: packed.globals, messages: packed.messages };
}
