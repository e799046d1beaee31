// Runs one exported function of a compiled module in a fresh instance (or one reset to that state): the pure core of a job.
import { bindInstrumented } from './instrumented-instance.js';
import type { InstrumentedInstance, LimitCode } from './instrumented-instance.js';
import type { Instrumentation } from './instrument.js';
import { MemoryIoError, placeParameters, readReturned } from './memory-io.js';
import type { Placement, ReturnsSpec } from './memory-io.js';
import { encodeBytes } from './output-encoding.js';
import type { EncodedBytes } from './output-encoding.js';
import type { WasmValue } from './values.js';
import { WASI_MODULE } from './wasi/abi.js';
import { catchExit } from './wasi/exit.js';
import { createWasi } from './wasi/preview1.js';
import type { Wasi, WasiOptions } from './wasi/preview1.js';

export type EvaluationFailureCode = 'WASM64_TRAP' | 'WASM64_STACK_OVERFLOW' | 'WASM64_MEMORY_IO' | 'WASM64_INTERNAL' | LimitCode;

/** What a WASI program left: its exit code (absent when it neither exited nor ran `_start`), stdout, stderr. */
export interface WasiOutcome {
  exitCode?: number;
  stdout: EncodedBytes;
  stderr: EncodedBytes;
  truncated: boolean;
}

/** A result read from memory (`returns`), as text or base64. */
export type ReturnedValue = EncodedBytes & { truncated: boolean };

export type Evaluation =
  | { ok: true; results: WasmValue[]; fuelUsed?: number; returned?: ReturnedValue; wasi?: WasiOutcome }
  | { ok: false; code: EvaluationFailureCode; message: string; fuelUsed?: number; wasi?: WasiOutcome };

/** WASI for the run: what createWasi takes, minus the test-only clock and random overrides. */
export type WasiTask = Omit<WasiOptions, 'clock' | 'random'>;

/** Everything about a call beyond its name and parameters; all of it optional. */
export interface EvaluateOptions {
  /** How the module was instrumented for its limits (src/wasm/instrument.ts); absent for a module run as sent. */
  instrumentation?: Instrumentation | null;
  /** Fuel granted to a metered module. */
  fuel?: number | null;
  /** The import object; the default links nothing (or WASI alone, with `wasi`), so a module reaches nothing of the host. */
  imports?: WebAssembly.Imports;
  /** Makes the instance to run in, in its fresh state (a reset one: see reuse.ts); never with imports. Default: a new instance. */
  instantiate?: (module: WebAssembly.Module) => WebAssembly.Instance;
  /** Link `wasi_snapshot_preview1` with this argv, environment and stdin. */
  wasi?: WasiTask;
  /** Call the reactor's `_initialize` before the function. */
  initialize?: boolean;
  /** Pointer width of the module's memory (i64 on memory64). */
  addressType?: 'i32' | 'i64';
  /** The exported memory WASI and memory I/O use. */
  memory?: string;
  /** String and bytes parameters to write through `allocator`. */
  placements?: Placement[];
  allocator?: string;
  returns?: ReturnsSpec;
  /** Bytes kept of a result read from memory. */
  outputLimit?: number;
}

/** The engine's message for a trap, e.g. "divide by zero" or "unreachable". */
export function trapMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Why a call threw: a limit the rewriter planted, a memory I/O failure, the engine's stack limit, or a trap. */
export function failureCode(err: unknown, instrumented: InstrumentedInstance | undefined): EvaluationFailureCode {
  const limit = instrumented?.limitHit() ?? null;
  if (limit !== null) return limit;
  if (err instanceof MemoryIoError) return 'WASM64_MEMORY_IO';
  if (err instanceof RangeError && /call stack size/i.test(err.message)) return 'WASM64_STACK_OVERFLOW';
  if (err instanceof WebAssembly.RuntimeError) return 'WASM64_TRAP';
  return err instanceof Error && !(err instanceof TypeError) ? 'WASM64_TRAP' : 'WASM64_INTERNAL';
}

export const LIMIT_MESSAGES: Partial<Record<EvaluationFailureCode, string>> = {
  WASM64_FUEL_EXHAUSTED: 'the job used all its fuel; send a larger fuel to let it run longer',
  WASM64_MEMORY_LIMIT: 'memory.grow would take the memory past the job\'s memory_limit; send a larger memory_limit',
};

export function wasiOutcome(wasi: Wasi, exitCode: number | undefined): WasiOutcome {
  const out = wasi.output();
  const outcome: WasiOutcome = {
    stdout: encodeBytes(out.stdout, true, out.truncated),
    stderr: encodeBytes(out.stderr, true, out.truncated),
    truncated: out.truncated,
  };
  if (exitCode !== undefined) outcome.exitCode = exitCode;
  return outcome;
}

/**
 * Instantiates `module` (linking WASI when asked), calls `functionName` with `parameters` already typed
 * for its signature, and collects what it produced. Never throws: a trap, an exhausted limit or a stack
 * overflow becomes `{ ok: false, code }`, a proc_exit an exit code.
 */
export function evaluate(module: WebAssembly.Module, functionName: string, parameters: WasmValue[], options: EvaluateOptions = {}): Evaluation {
  const wasi = options.wasi === undefined ? undefined : createWasi(options.wasi);
  const imports = wasi === undefined ? (options.imports ?? {}) : { ...options.imports, [WASI_MODULE]: wasi.imports };
  let instance: WebAssembly.Instance;
  try {
    instance = options.instantiate === undefined ? new WebAssembly.Instance(module, imports) : options.instantiate(module);
  } catch (err) {
    const code = err instanceof WebAssembly.LinkError || err instanceof TypeError ? 'WASM64_INTERNAL' : failureCode(err, undefined);
    return { ok: false, code, message: trapMessage(err) };
  }
  const instrumented = options.instrumentation ? bindInstrumented(instance, options.instrumentation, options.fuel ?? null) : undefined;
  const finish = <T extends Evaluation>(evaluation: T, exitCode?: number): T => {
    const used = instrumented?.fuelUsed() ?? null;
    if (used !== null) evaluation.fuelUsed = used;
    // A program's output is kept whether it returned, exited or trapped: what it printed says why.
    if (wasi !== undefined) evaluation.wasi = wasiOutcome(wasi, exitCode);
    return evaluation;
  };
  const memory = options.memory === undefined ? undefined : instance.exports[options.memory];
  if (memory instanceof WebAssembly.Memory) wasi?.bind(memory, options.addressType ?? 'i32');
  const fn = instance.exports[functionName];
  if (typeof fn !== 'function') {
    return { ok: false, code: 'WASM64_INTERNAL', message: `export "${functionName}" is not a function` };
  }
  let run;
  try {
    instrumented?.start();
    run = catchExit(() => {
      const initialize = instance.exports._initialize;
      if (options.initialize === true && typeof initialize === 'function' && functionName !== '_initialize') initialize();
      const args = [...parameters];
      if (options.placements !== undefined && options.placements.length > 0 && memory instanceof WebAssembly.Memory) {
        const allocate = instance.exports[options.allocator ?? 'malloc'] as (size: WasmValue) => unknown;
        placeParameters(memory, allocate, options.addressType ?? 'i32', args, options.placements);
      }
      return (fn as (...a: WasmValue[]) => unknown)(...args);
    });
  } catch (err) {
    const code = failureCode(err, instrumented);
    return finish({ ok: false, code, message: LIMIT_MESSAGES[code] ?? trapMessage(err) });
  }
  if (run.exited) return finish({ ok: true, results: [] }, run.code);

  const value = run.value;
  const results = value === undefined ? [] : Array.isArray(value) ? (value as WasmValue[]) : [value as WasmValue];
  const evaluation: Evaluation = { ok: true, results };
  if (options.returns !== undefined && memory instanceof WebAssembly.Memory) {
    try {
      const { data, truncated } = readReturned(memory, results, options.returns, options.outputLimit ?? 1 << 20);
      evaluation.returned = { ...encodeBytes(data, options.returns.type === 'string', truncated), truncated };
    } catch (err) {
      return finish({ ok: false, code: 'WASM64_MEMORY_IO', message: trapMessage(err) });
    }
  }
  return finish(evaluation, functionName === '_start' ? 0 : undefined);
}
