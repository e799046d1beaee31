// The messages the device and the worker threads exchange; both sides import only these types.
import type { Evaluation } from '../wasm/evaluate.js';
import type { Instrumentation } from '../wasm/instrument.js';
import type { WasmValue } from '../wasm/values.js';

/** One evaluation: the compiled module travels as a handle to code V8 compiled once, not as bytes. */
export interface EvaluateTask {
  jobId: string;
  module: WebAssembly.Module;
  /** How the module was instrumented for the job's limits; null when it runs as sent. */
  instrumentation: Instrumentation | null;
  /** Fuel granted to a metered module; null when unmetered. */
  fuel: number | null;
  function: string;
  parameters: WasmValue[];
}

/** What the worker answers: the evaluation plus when it really ran (epoch ms, worker clock). */
export type EvaluateOutcome = Evaluation & { startedAt: number; durationMs: number };
