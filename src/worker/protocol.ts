// The messages the device and the worker threads exchange; both sides import only these types.
import type { Evaluation, EvaluateOptions } from '../wasm/evaluate.js';
import type { Instrumentation } from '../wasm/instrument.js';
import type { ReusePlan } from '../wasm/reuse.js';
import type { WasmValue } from '../wasm/values.js';

/** One evaluation: the compiled module travels as a handle to code V8 compiled once, not as bytes. */
export interface EvaluateTask {
  jobId: string;
  module: WebAssembly.Module;
  /** How the module was instrumented for the job's limits; null when it runs as sent. */
  instrumentation: Instrumentation | null;
  /** Fuel granted to a metered module; null when unmetered. */
  fuel: number | null;
  /** The key the thread keeps a reset instance of this module under, and what it resets; null: a fresh instance. */
  reuse: { key: string; plan: ReusePlan } | null;
  function: string;
  parameters: WasmValue[];
  /** WASI, memory I/O and reactor initialisation, when the call needs them. */
  call?: CallOptions;
}

/** The options of evaluate() that travel with a task (imports cannot: WASI is built in the worker). */
export type CallOptions = Omit<EvaluateOptions, 'instrumentation' | 'fuel' | 'imports'>;

/** What the worker answers: the evaluation plus when it really ran (epoch ms, worker clock). */
export type EvaluateOutcome = Evaluation & { startedAt: number; durationMs: number };

/**
 * Several jobs in one message, run in order on one thread. `control` is a BatchControl's buffer: the
 * worker claims each job there before running it and skips those the device withdrew.
 */
export interface EvaluateBatch {
  tasks: EvaluateTask[];
  control: SharedArrayBuffer;
}

/** Per task of a batch, in order: its outcome, or null when the device withdrew it before it ran. */
export type BatchOutcome = (EvaluateOutcome | null)[];
