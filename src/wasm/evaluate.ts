// Runs one exported function of a compiled module in a fresh instance: the pure core of a job.
import { bindInstrumented } from './instrumented-instance.js';
import type { InstrumentedInstance, LimitCode } from './instrumented-instance.js';
import type { Instrumentation } from './instrument.js';
import type { WasmValue } from './values.js';

export type EvaluationFailureCode = 'WASM64_TRAP' | 'WASM64_STACK_OVERFLOW' | 'WASM64_INTERNAL' | LimitCode;

export type Evaluation =
  | { ok: true; results: WasmValue[]; fuelUsed?: number }
  | { ok: false; code: EvaluationFailureCode; message: string; fuelUsed?: number };

/** Everything about a call beyond its name and parameters; all of it optional. */
export interface EvaluateOptions {
  /** How the module was instrumented for its limits (src/wasm/instrument.ts); absent for a module run as sent. */
  instrumentation?: Instrumentation | null;
  /** Fuel granted to a metered module. */
  fuel?: number | null;
  /** The import object; the default links nothing, so a module reaches nothing of the host. */
  imports?: WebAssembly.Imports;
}

/** The engine's message for a trap, e.g. "divide by zero" or "unreachable". */
function trapMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Why a call threw: a limit the rewriter planted, the engine's stack limit, or a trap. */
function failureCode(err: unknown, instrumented: InstrumentedInstance | undefined): EvaluationFailureCode {
  const limit = instrumented?.limitHit() ?? null;
  if (limit !== null) return limit;
  if (err instanceof RangeError && /call stack size/i.test(err.message)) return 'WASM64_STACK_OVERFLOW';
  if (err instanceof WebAssembly.RuntimeError) return 'WASM64_TRAP';
  return err instanceof Error && !(err instanceof TypeError) ? 'WASM64_TRAP' : 'WASM64_INTERNAL';
}

const LIMIT_MESSAGES: Partial<Record<EvaluationFailureCode, string>> = {
  WASM64_FUEL_EXHAUSTED: 'the job used all its fuel; send a larger fuel to let it run longer',
  WASM64_MEMORY_LIMIT: 'memory.grow would take the memory past the job\'s memory_limit; send a larger memory_limit',
};

/**
 * Instantiates `module` and calls `functionName` with `parameters` already typed for its signature.
 * Never throws: a trap, an exhausted limit or a stack overflow becomes `{ ok: false, code }`.
 */
export function evaluate(module: WebAssembly.Module, functionName: string, parameters: WasmValue[], options: EvaluateOptions = {}): Evaluation {
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(module, options.imports ?? {});
  } catch (err) {
    const code = err instanceof WebAssembly.LinkError || err instanceof TypeError ? 'WASM64_INTERNAL' : failureCode(err, undefined);
    return { ok: false, code, message: trapMessage(err) };
  }
  const instrumented = options.instrumentation ? bindInstrumented(instance, options.instrumentation, options.fuel ?? null) : undefined;
  const withFuel = <T extends Evaluation>(evaluation: T): T => {
    const used = instrumented?.fuelUsed() ?? null;
    if (used !== null) evaluation.fuelUsed = used;
    return evaluation;
  };
  const fn = instance.exports[functionName];
  if (typeof fn !== 'function') {
    return { ok: false, code: 'WASM64_INTERNAL', message: `export "${functionName}" is not a function` };
  }
  try {
    instrumented?.start();
    const value = (fn as (...args: WasmValue[]) => unknown)(...parameters);
    const results = value === undefined ? [] : Array.isArray(value) ? (value as WasmValue[]) : [value as WasmValue];
    return withFuel({ ok: true, results });
  } catch (err) {
    const code = failureCode(err, instrumented);
    return withFuel({ ok: false, code, message: LIMIT_MESSAGES[code] ?? trapMessage(err) });
  }
}
