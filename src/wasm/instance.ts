// A live instance of a module: initialised once, then called message after message against the same memory,
// its state (memory, exported mutable globals, message count) captured and restored on demand.
import { Status } from './instrument.js';
import type { Instrumentation } from './instrument.js';
import { failureCode, LIMIT_MESSAGES, trapMessage, wasiOutcome } from './evaluate.js';
import type { Evaluation } from './evaluate.js';
import { placeParameters, readReturned } from './memory-io.js';
import type { Placement, ReturnsSpec } from './memory-io.js';
import { encodeBytes } from './output-encoding.js';
import type { WasmValue } from './values.js';
import { PREVIEW1_FUNCTIONS, WASI_MODULE } from './wasi/abi.js';
import { catchExit } from './wasi/exit.js';
import { createWasi } from './wasi/preview1.js';
import type { HostFunction, Wasi } from './wasi/preview1.js';

/** How every call of an instance runs; fixed when the instance is created and carried by its snapshots. */
export interface InstanceSetup {
  /** argv (argv[0] included) and environment each call's WASI sees; stdin is empty. */
  args: string[];
  env: Record<string, string>;
  /** Virtual clock and a random stream seeded by (seed, message number), so that calls replay identically. */
  deterministic: boolean;
  seed: number | string;
  addressType: 'i32' | 'i64';
  /** The exported memory, when the module exports one. */
  memory?: string;
  instrumentation: Instrumentation | null;
  /** Fuel granted to each call of a metered module. */
  fuel: number | null;
  /** Bytes kept of stdout, stderr and a result read from memory, per call. */
  outputLimit: number;
}

/** One call against the instance: a function with typed parameters, or an AO message (`handle`, JSON in and out). */
export interface InstanceCall {
  function: string;
  parameters: WasmValue[];
  placements?: Placement[];
  allocator?: string;
  returns?: ReturnsSpec;
  /** Parse what `returns` read as JSON: the result of an AO message. */
  json?: boolean;
}

/** An exported mutable global's value: i64 as a decimal string (exact), numbers in JavaScript's shortest form. */
export interface GlobalValue {
  name: string;
  kind: 'bigint' | 'number';
  value: string;
}

/** Everything a later call can observe of an instance, uncompressed. */
export interface InstanceState {
  memory: Uint8Array | null;
  globals: GlobalValue[];
  /** Calls completed so far: the message number the next call's random stream is seeded with. */
  messages: number;
}

type Completed = Extract<Evaluation, { ok: true }>;
type Failed = Extract<Evaluation, { ok: false }>;

/**
 * A call's evaluation, plus the JSON an AO message answered. A failure with `kept` left the state whole
 * (the call returned; only reading its answer failed), so the instance stays usable.
 */
export type CallEvaluation =
  | (Completed & { output?: unknown })
  | (Omit<Failed, 'code'> & { code: Failed['code'] | 'WASM64_INSTANCE_OUTPUT'; kept?: true });

/** A snapshot that does not fit the module: its memory is smaller than the module's minimum or beyond its cap. */
export class SnapshotMismatchError extends Error {
  override readonly name = 'SnapshotMismatchError';
}

const WASM_PAGE = 65_536;

function globalValue(value: unknown): Pick<GlobalValue, 'kind' | 'value'> {
  if (typeof value === 'bigint') return { kind: 'bigint', value: value.toString() };
  return { kind: 'number', value: Object.is(value, -0) ? '-0' : String(value) };
}

/** Grows `memory` by `pages`: the JS API takes a number for wasm32 memories and, on some engines, a BigInt for memory64. */
function growMemory(memory: WebAssembly.Memory, pages: number): void {
  try {
    memory.grow(pages);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    memory.grow(BigInt(pages));
  }
}

export class LiveInstance {
  readonly #instance: WebAssembly.Instance;
  readonly #setup: InstanceSetup;
  readonly #memory: WebAssembly.Memory | undefined;
  /** The WASI of the call in progress: the instance's imports forward to it, so each call gets its own streams. */
  #wasi: Wasi;
  #messages = 0;
  /** Set when a call trapped: its memory may be half-written, so the instance must not be called again. */
  #broken = false;

  private constructor(module: WebAssembly.Module, setup: InstanceSetup) {
    this.#setup = setup;
    this.#wasi = this.#wasiFor('init');
    const forward: Record<string, HostFunction> = {};
    for (const name of Object.keys(PREVIEW1_FUNCTIONS)) forward[name] = (...args) => this.#wasi.imports[name]!(...args);
    forward.proc_exit = (...args) => this.#wasi.imports.proc_exit!(...args);
    this.#instance = new WebAssembly.Instance(module, { [WASI_MODULE]: forward });
    const memory = setup.memory === undefined ? undefined : this.#instance.exports[setup.memory];
    this.#memory = memory instanceof WebAssembly.Memory ? memory : undefined;
  }

  /**
   * Instantiates `module` and runs its start function, then `init` (`_initialize`, `_start`, or nothing).
   * Never throws for what the module does: a trap in either is `{ ok: false }` and `instance` is undefined.
   */
  static create(module: WebAssembly.Module, setup: InstanceSetup, init: string | null): { instance?: LiveInstance; evaluation: CallEvaluation } {
    let live: LiveInstance;
    try {
      live = new LiveInstance(module, setup);
    } catch (err) {
      const code = err instanceof WebAssembly.LinkError || err instanceof TypeError ? 'WASM64_INTERNAL' : failureCode(err, undefined);
      return { evaluation: { ok: false, code, message: trapMessage(err) } };
    }
    const start = setup.instrumentation?.start ?? null;
    const evaluation = live.#run('init', () => {
      if (start !== null) (live.#instance.exports[start] as () => void)();
      const fn = init === null ? undefined : live.#instance.exports[init];
      return typeof fn === 'function' ? (fn)() : undefined;
    }, undefined);
    if (!evaluation.ok) return { evaluation };
    if (init === '_start' && evaluation.wasi !== undefined) evaluation.wasi.exitCode ??= 0;
    return { instance: live, evaluation };
  }

  /**
   * An instance in `state`: instantiated (the module's data segments and start function run, then are
   * overwritten), its memory grown to the state's size and copied in, its globals set. `init` does not run.
   * Throws SnapshotMismatchError when the memory cannot take the state.
   */
  static restore(module: WebAssembly.Module, setup: InstanceSetup, state: InstanceState): LiveInstance {
    const live = new LiveInstance(module, setup);
    const memory = live.#memory;
    if (state.memory !== null) {
      if (memory === undefined) throw new SnapshotMismatchError('the snapshot has a memory, the module exports none');
      const have = memory.buffer.byteLength;
      if (state.memory.length < have || state.memory.length % WASM_PAGE !== 0) {
        throw new SnapshotMismatchError(`the snapshot's memory is ${state.memory.length} bytes; the module's starts at ${have} and grows in 64 KiB pages`);
      }
      const pages = (state.memory.length - have) / WASM_PAGE;
      if (pages > 0) {
        try {
          growMemory(memory, pages);
        } catch {
          throw new SnapshotMismatchError(`the snapshot's memory (${state.memory.length} bytes) is beyond what the instance's memory may grow to`);
        }
      }
      new Uint8Array(memory.buffer).set(state.memory);
    }
    for (const g of state.globals) {
      const global = live.#instance.exports[g.name];
      if (!(global instanceof WebAssembly.Global)) throw new SnapshotMismatchError(`the module exports no global "${g.name}"`);
      global.value = g.kind === 'bigint' ? BigInt(g.value) : Number(g.value);
    }
    live.#messages = state.messages;
    return live;
  }

  get messages(): number {
    return this.#messages;
  }

  get broken(): boolean {
    return this.#broken;
  }

  /** Bytes of linear memory now (0 without an exported memory). */
  get memoryBytes(): number {
    return this.#memory?.buffer.byteLength ?? 0;
  }

  /** Runs one call. A trap marks the instance broken (its memory may be half-written); the caller drops it. */
  call(call: InstanceCall): CallEvaluation {
    const fn = this.#instance.exports[call.function];
    if (typeof fn !== 'function') return { ok: false, code: 'WASM64_INTERNAL', message: `export "${call.function}" is not a function` };
    const evaluation = this.#run(String(this.#messages), () => {
      const args = [...call.parameters];
      if (call.placements !== undefined && call.placements.length > 0 && this.#memory !== undefined) {
        const allocate = this.#instance.exports[call.allocator ?? 'malloc'] as (size: WasmValue) => unknown;
        placeParameters(this.#memory, allocate, this.#setup.addressType, args, call.placements);
      }
      return (fn as (...a: WasmValue[]) => unknown)(...args);
    }, call);
    if (evaluation.ok || evaluation.kept === true) this.#messages++;
    else this.#broken = true;
    return evaluation;
  }

  /** A copy of the state: memory bytes, exported mutable globals (the rewriter's own excepted), message count. */
  capture(): InstanceState {
    const skip = new Set([this.#setup.instrumentation?.status, this.#setup.instrumentation?.fuel]);
    const globals: GlobalValue[] = [];
    for (const [name, value] of Object.entries(this.#instance.exports)) {
      if (!(value instanceof WebAssembly.Global) || skip.has(name)) continue;
      // JavaScript cannot ask a global whether it is mutable; setting an immutable one throws.
      const current: unknown = value.value;
      try {
        value.value = current;
      } catch {
        continue;
      }
      globals.push({ name, ...globalValue(current) });
    }
    return { memory: this.#memory === undefined ? null : new Uint8Array(this.#memory.buffer).slice(), globals, messages: this.#messages };
  }

  #wasiFor(message: string): Wasi {
    const { args, env, deterministic, seed, outputLimit } = this.#setup;
    const wasi = createWasi({ args, env, stdin: new Uint8Array(0), outputLimit, deterministic, seed: `${String(seed)}:${message}` });
    return wasi;
  }

  /** Runs `body` with fresh WASI streams for message `message`, fuel granted and the limit status cleared. */
  #run(message: string, body: () => unknown, call: InstanceCall | undefined): CallEvaluation {
    const wasi = (this.#wasi = this.#wasiFor(message));
    if (this.#memory !== undefined) wasi.bind(this.#memory, this.#setup.addressType);
    const instrumentation = this.#setup.instrumentation;
    const status = instrumentation === null ? undefined : (this.#instance.exports[instrumentation.status] as WebAssembly.Global);
    const fuel = instrumentation?.fuel == null ? undefined : (this.#instance.exports[instrumentation.fuel] as WebAssembly.Global);
    const granted = this.#setup.fuel ?? 0;
    if (status !== undefined) status.value = Status.running;
    if (fuel !== undefined) fuel.value = BigInt(granted);
    const limits = {
      start() {},
      fuelUsed: () => (fuel === undefined ? null : status?.value === Status.fuelExhausted ? granted : granted - Number(fuel.value)),
      limitHit: () => (status?.value === Status.fuelExhausted ? 'WASM64_FUEL_EXHAUSTED' as const : status?.value === Status.memoryLimit ? 'WASM64_MEMORY_LIMIT' as const : null),
    };
    const finish = (evaluation: CallEvaluation, exitCode?: number): CallEvaluation => {
      const used = limits.fuelUsed();
      if (used !== null) evaluation.fuelUsed = used;
      evaluation.wasi = wasiOutcome(wasi, exitCode);
      return evaluation;
    };
    let run;
    try {
      run = catchExit(body);
    } catch (err) {
      const code = failureCode(err, limits);
      return finish({ ok: false, code, message: LIMIT_MESSAGES[code] ?? trapMessage(err) });
    }
    if (run.exited) return finish({ ok: true, results: [] }, run.code);
    const value = run.value;
    const results = value === undefined ? [] : Array.isArray(value) ? (value as WasmValue[]) : [value as WasmValue];
    const evaluation: CallEvaluation = { ok: true, results };
    if (call?.returns !== undefined && this.#memory !== undefined) {
      try {
        const { data, truncated } = readReturned(this.#memory, results, call.returns, this.#setup.outputLimit);
        if (call.json === true) {
          if (truncated) throw new SyntaxError(`the answer is longer than OUTPUT_LIMIT (${this.#setup.outputLimit} bytes)`);
          evaluation.output = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data)) as unknown;
        } else {
          evaluation.returned = { ...encodeBytes(data, call.returns.type === 'string', truncated), truncated };
        }
      } catch (err) {
        // The call itself returned: the state is whole, only its answer is unusable.
        const code = err instanceof SyntaxError || err instanceof TypeError ? 'WASM64_INSTANCE_OUTPUT' : 'WASM64_MEMORY_IO';
        return finish({ ok: false, code, message: trapMessage(err), kept: true });
      }
    }
    return finish(evaluation, call?.function === '_start' ? 0 : undefined);
  }
}
