// Runs one exported function of a compiled module in a fresh instance: the pure core of a job.
import type { WasmValue } from './values.js';

export type EvaluationFailureCode = 'WASM64_TRAP' | 'WASM64_INTERNAL';

export type Evaluation =
  | { ok: true; results: WasmValue[] }
  | { ok: false; code: EvaluationFailureCode; message: string };

/** The engine's message for a trap, e.g. "divide by zero" or "unreachable". */
function trapMessage(err: unknown): string {
  if (err instanceof WebAssembly.RuntimeError) return err.message;
  if (err instanceof RangeError && /call stack/i.test(err.message)) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Instantiates `module` with no imports and calls `functionName` with `parameters` already typed
 * for its signature. A trap becomes `{ ok: false, code: 'WASM64_TRAP' }`; nothing is thrown.
 */
export function evaluate(module: WebAssembly.Module, functionName: string, parameters: WasmValue[]): Evaluation {
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(module, {});
  } catch (err) {
    return { ok: false, code: err instanceof WebAssembly.RuntimeError ? 'WASM64_TRAP' : 'WASM64_INTERNAL', message: trapMessage(err) };
  }
  const fn = instance.exports[functionName];
  if (typeof fn !== 'function') {
    return { ok: false, code: 'WASM64_INTERNAL', message: `export "${functionName}" is not a function` };
  }
  try {
    const value = (fn as (...args: WasmValue[]) => unknown)(...parameters);
    const results = value === undefined ? [] : Array.isArray(value) ? (value as WasmValue[]) : [value as WasmValue];
    return { ok: true, results };
  } catch (err) {
    return { ok: false, code: 'WASM64_TRAP', message: trapMessage(err) };
  }
}
