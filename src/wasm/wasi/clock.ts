// Clocks for clock_time_get, clock_res_get and poll_oneoff: the host's real time, or a virtual, reproducible one.
import { CLOCK } from './abi.js';

export interface WasiClock {
  /** Nanoseconds on clock `id`, or undefined for an unknown clock. */
  now(id: number): bigint | undefined;
  resolution(id: number): bigint | undefined;
  /** Blocks (or, for a virtual clock, advances) for `ns` nanoseconds. */
  sleep(ns: bigint): void;
}

const KNOWN = new Set<number>(Object.values(CLOCK));

/**
 * The host's clocks. REALTIME is wall time; MONOTONIC and both CPU-time clocks count from the run's start
 * (a guest learns nothing about the host's uptime or other work). Sleeps block the worker thread.
 */
export function realClock(): WasiClock {
  const startHr = process.hrtime.bigint();
  const startWall = BigInt(Date.now()) * 1_000_000n;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  return {
    now: (id) => {
      if (!KNOWN.has(id)) return undefined;
      const elapsed = process.hrtime.bigint() - startHr;
      return id === CLOCK.REALTIME ? startWall + elapsed : elapsed;
    },
    resolution: (id) => (KNOWN.has(id) ? 1n : undefined),
    sleep: (ns) => {
      const deadline = process.hrtime.bigint() + ns;
      for (let left = ns; left > 0n; left = deadline - process.hrtime.bigint()) {
        // Atomics.wait takes milliseconds as a double; nothing ever notifies this cell.
        Atomics.wait(sleeper, 0, 0, Math.max(Number(left) / 1e6, 0.001));
      }
    },
  };
}

/** Where the virtual REALTIME clock starts: 2024-01-01T00:00:00Z. */
export const VIRTUAL_EPOCH_NS = 1_704_067_200n * 1_000_000_000n;
/** How far every reading advances a virtual clock, so that loops waiting on time still end. */
export const VIRTUAL_TICK_NS = 1_000n;

/**
 * A clock that is the same on every run: it starts at VIRTUAL_EPOCH_NS (REALTIME) or 0 (the others),
 * advances VIRTUAL_TICK_NS per reading, and jumps instead of sleeping.
 */
export function virtualClock(): WasiClock {
  let elapsed = 0n;
  return {
    now: (id) => {
      if (!KNOWN.has(id)) return undefined;
      elapsed += VIRTUAL_TICK_NS;
      return id === CLOCK.REALTIME ? VIRTUAL_EPOCH_NS + elapsed : elapsed;
    },
    resolution: (id) => (KNOWN.has(id) ? VIRTUAL_TICK_NS : undefined),
    sleep: (ns) => {
      elapsed += ns;
    },
  };
}
