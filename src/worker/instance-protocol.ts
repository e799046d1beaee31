// The messages the device and the instance lanes' worker threads exchange; both sides import only these types.
import type { CallEvaluation, InstanceCall, InstanceSetup } from '../wasm/instance.js';
import type { PackedState } from '../wasm/instance-state.js';

export type { PackedState };

/** A call kept in an instance's journal: replayed on top of the last checkpoint to rebuild the instance. */
export interface JournalEntry {
  /** The message number it ran as (the instance's count of completed calls before it). */
  index: number;
  call: InstanceCall;
}

/** How a worker builds an instance it does not hold: fresh (running `init`), or a state and the calls since. */
export interface InstanceImage {
  module: WebAssembly.Module;
  setup: InstanceSetup;
  from: { init: string | null } | { state: PackedState; replay: JournalEntry[] };
}

export type InstanceTask =
  /** Builds the instance (answers init's evaluation and the first checkpoint for a fresh one). */
  | { kind: 'open'; instanceId: string; image: InstanceImage }
  /** One call; `image` when the device believes the worker does not hold the instance. */
  | { kind: 'call'; instanceId: string; image?: InstanceImage; call: InstanceCall }
  /** Captures the state; with `drop`, then forgets the instance (eviction). */
  | { kind: 'snapshot'; instanceId: string; image?: InstanceImage; drop: boolean }
  | { kind: 'drop'; instanceId: string };

export interface InstanceAnswer {
  /** The worker holds the instance after the task. */
  live: boolean;
  memoryBytes: number;
  messages: number;
  /** The worker did not hold the instance and was sent no image: send the task again with one. */
  missing?: true;
  /** The image could not be built: the state does not fit the module, or a replayed call failed. */
  openError?: string;
  /** What the call (or, for a fresh open, init) evaluated. */
  evaluation?: CallEvaluation;
  state?: PackedState;
  /** Epoch ms (worker clock) when the task began, and the time spent in wasm. */
  startedAt: number;
  durationMs: number;
}
