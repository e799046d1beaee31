// Decides whether an instance of a module can serve job after job, and puts it back to its fresh state.
//
// A fresh instance per job is the isolation contract, and creating one is most of what a short job costs
// (~57 us for the memory64 default module, most of it allocating and later collecting its memory, against
// ~3 us to reset a kept one: bench/instance-reuse.mjs). A module can only change its memories, its mutable globals, its tables and
// its passive segments; when JavaScript can reach every memory and mutable global through an export, and
// no instruction touches tables or drops segments, writing back the memories and globals it had right after
// instantiation gives the next job exactly what a fresh instance would. Everything else gets a fresh instance.
import { BinaryReader, ModuleFormatError } from './binary-reader.js';
import { readInstruction, skipValueType, UnsupportedInstructionError } from './instructions.js';
import { readSections } from './instrument.js';
import { skipConstExpr } from './export-globals.js';

/** Memories bigger than this at instantiation are not worth copying back: a fresh instance maps them lazily. */
export const REUSE_MAX_MEMORY_BYTES = 1024 * 1024;

/** What to write back between jobs: the exports naming each memory and each mutable global. */
export interface ReusePlan {
  memories: string[];
  globals: string[];
}

const PAGE = 65_536;
const NUMBER_TYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c]); // i32 i64 f32 f64: what JavaScript can read and write
// table.set; data.drop, table.init, elem.drop, table.copy, table.grow, table.fill (0xfc-prefixed).
const STATEFUL_OPS = new Set([0x26, ...[9, 12, 13, 14, 15, 17].map((sub) => (0xfc << 16) | sub)]);

/** Why a module's instances cannot be reused (planReuse's answer when they cannot). */
export type NotReusable = 'imports' | 'shared memory' | 'memory too large' | 'unexported state' | 'table or segment instructions' | 'unreadable code';

/**
 * The plan for reusing instances of `bytes` (a module the engine has validated), or why there is none.
 * Imports rule reuse out: a host function or an imported memory or global is state this cannot reset,
 * and a start function that calls the host may not leave the same state twice.
 */
export function planReuse(bytes: Uint8Array): { plan: ReusePlan } | { reason: NotReusable } {
  try {
    return planOf(bytes);
  } catch (err) {
    // Code or initialisers this decoder does not know (GC constants, say): such a module is run, not reused.
    if (err instanceof UnsupportedInstructionError || err instanceof ModuleFormatError) return { reason: 'unreadable code' };
    throw err;
  }
}

function planOf(bytes: Uint8Array): { plan: ReusePlan } | { reason: NotReusable } {
  const sections = readSections(bytes);
  const find = (id: number): { start: number; end: number } | undefined => sections.find((s) => s.id === id);
  const importSection = find(2);
  if (importSection !== undefined && new BinaryReader(bytes, importSection.start).u32() > 0) return { reason: 'imports' };

  let memoryBytes = 0;
  let memoryCount = 0;
  const memorySection = find(5);
  if (memorySection !== undefined) {
    const r = new BinaryReader(bytes, memorySection.start);
    for (let n = r.u32(); n > 0; n--, memoryCount++) {
      const flags = r.byte();
      if (flags & 0x02) return { reason: 'shared memory' };
      memoryBytes += Number(r.uleb()) * PAGE;
      if (flags & 0x01) r.skipLeb();
    }
  }
  if (memoryBytes > REUSE_MAX_MEMORY_BYTES) return { reason: 'memory too large' };

  const mutableGlobals: number[] = [];
  const globalSection = find(6);
  if (globalSection !== undefined) {
    const r = new BinaryReader(bytes, globalSection.start);
    for (let i = 0, n = r.u32(); i < n; i++) {
      const type = r.bytes[r.offset] ?? 0;
      skipValueType(r);
      if (r.byte() === 0x01) {
        if (!NUMBER_TYPES.has(type)) return { reason: 'unexported state' };
        mutableGlobals.push(i); // no imports: the module's own globals start at index 0
      }
      skipConstExpr(r);
    }
  }

  const memoryNames = new Map<number, string>();
  const globalNames = new Map<number, string>();
  const exportSection = find(7);
  if (exportSection !== undefined) {
    const r = new BinaryReader(bytes, exportSection.start);
    for (let n = r.u32(); n > 0; n--) {
      const name = r.name();
      const kind = r.byte();
      const index = r.u32();
      if (kind === 0x02 && !memoryNames.has(index)) memoryNames.set(index, name);
      if (kind === 0x03 && !globalNames.has(index)) globalNames.set(index, name);
    }
  }
  const memories: string[] = [];
  for (let index = 0; index < memoryCount; index++) {
    const name = memoryNames.get(index);
    if (name === undefined) return { reason: 'unexported state' };
    memories.push(name);
  }
  const globals: string[] = [];
  for (const index of mutableGlobals) {
    const name = globalNames.get(index);
    if (name === undefined) return { reason: 'unexported state' };
    globals.push(name);
  }

  // Every table instruction names a table, and data.drop needs the data count section: a valid module with
  // neither (imports are ruled out above) has none of them, and its code need not be decoded (7-20 ms on the
  // main thread for a 500 KB module). elem.drop without a table changes nothing a job could observe.
  const codeSection = find(10);
  const couldChangeState = find(4) !== undefined || find(12) !== undefined;
  if (codeSection !== undefined && couldChangeState && touchesTablesOrSegments(bytes, codeSection)) return { reason: 'table or segment instructions' };
  return { plan: { memories, globals } };
}

/** Whether any function body changes a table or drops a passive segment (state no export reaches). */
function touchesTablesOrSegments(bytes: Uint8Array, code: { start: number; end: number }): boolean {
  const r = new BinaryReader(bytes, code.start);
  for (let n = r.u32(); n > 0; n--) {
    const size = r.u32();
    const end = r.offset + size;
    for (let groups = r.u32(); groups > 0; groups--) {
      r.u32();
      skipValueType(r);
    }
    while (r.offset < end) if (STATEFUL_OPS.has(readInstruction(r))) return true;
    r.offset = end;
  }
  return false;
}

/** An instance with what it held right after instantiation, so that it can be put back to that state. */
export class ReusableInstance {
  readonly instance: WebAssembly.Instance;
  /**
   * False when this instance must serve one job only: its start function grew memory past
   * REUSE_MAX_MEMORY_BYTES (copying it back would cost more than a fresh instance), or a float global holds
   * a NaN, whose exact bits JavaScript cannot write back (a restored NaN would read as the canonical one).
   */
  readonly keepable: boolean;
  readonly #memories: WebAssembly.Memory[];
  readonly #images: Uint8Array[];
  readonly #globals: WebAssembly.Global[];
  readonly #values: unknown[];

  /** Instantiates `module` (no imports: see planReuse) and keeps its fresh state. Throws what instantiation throws. */
  constructor(module: WebAssembly.Module, plan: ReusePlan) {
    this.instance = new WebAssembly.Instance(module, {});
    const exports = this.instance.exports;
    this.#memories = plan.memories.map((name) => exports[name] as WebAssembly.Memory);
    this.#globals = plan.globals.map((name) => exports[name] as WebAssembly.Global);
    this.#values = this.#globals.map((global) => global.value);
    const memoryBytes = this.#memories.reduce((sum, memory) => sum + memory.buffer.byteLength, 0);
    this.keepable = memoryBytes <= REUSE_MAX_MEMORY_BYTES && !this.#values.some((value) => Number.isNaN(value));
    this.#images = this.keepable ? this.#memories.map((memory) => new Uint8Array(memory.buffer.slice(0))) : [];
  }

  /** False when a memory grew (a memory cannot shrink) or the instance is not keepable: it cannot be made fresh again. */
  get resettable(): boolean {
    return this.keepable && this.#memories.every((memory, i) => memory.buffer.byteLength === this.#images[i]?.length);
  }

  /** Writes back the memories and globals the instance had when it was made. Check `resettable` first. */
  reset(): void {
    for (let i = 0; i < this.#memories.length; i++) new Uint8Array((this.#memories[i] as WebAssembly.Memory).buffer).set(this.#images[i] as Uint8Array);
    for (let i = 0; i < this.#globals.length; i++) (this.#globals[i] as WebAssembly.Global).value = this.#values[i];
  }
}

/**
 * A thread's reusable instances, one per module variant, the least recently used dropped past `maxInstances`.
 * An instance is out of the cache while a job runs in it, and comes back reset, so it never holds a job's data.
 * A variant found not to be reusable after all (its start function trapped, grew memory, or left a NaN) is
 * remembered, and its jobs get plain fresh instances from then on.
 */
export class InstanceCache {
  readonly #kept = new Map<string, ReusableInstance>();
  readonly #refused = new Set<string>();
  /** Instances out with a job, by the instance the job runs in. */
  readonly #lent = new Map<WebAssembly.Instance, ReusableInstance>();

  constructor(readonly maxInstances: number) {}

  get size(): number {
    return this.#kept.size;
  }

  /**
   * An instance of `module` in its fresh state: the one kept under `key`, a new reusable one, or (for a
   * refused variant) a plain new one. Throws what instantiation throws, once: the job reports it as a
   * fresh instance's would be.
   */
  instantiate(key: string, module: WebAssembly.Module, plan: ReusePlan): WebAssembly.Instance {
    const kept = this.#kept.get(key);
    if (kept !== undefined) {
      this.#kept.delete(key);
      this.#lent.set(kept.instance, kept);
      return kept.instance;
    }
    if (this.#refused.has(key)) return new WebAssembly.Instance(module, {});
    let made: ReusableInstance;
    try {
      made = new ReusableInstance(module, plan);
    } catch (err) {
      this.#refuse(key);
      throw err;
    }
    if (!made.keepable) this.#refuse(key);
    else this.#lent.set(made.instance, made);
    return made.instance;
  }

  /** After its job: resets `instance` and keeps it under `key`, unless it cannot be made fresh again. */
  release(key: string, instance: WebAssembly.Instance): void {
    const reusable = this.#lent.get(instance);
    if (reusable === undefined) return;
    this.#lent.delete(instance);
    if (!reusable.resettable) return;
    reusable.reset();
    this.#kept.set(key, reusable);
    if (this.#kept.size > this.maxInstances) {
      const oldest = this.#kept.keys().next();
      if (oldest.done !== true) this.#kept.delete(oldest.value);
    }
  }

  #refuse(key: string): void {
    // Bounded like the instances: a thread that sees endless new variants forgets the oldest refusals.
    this.#refused.add(key);
    if (this.#refused.size > 16 * this.maxInstances) this.#refused.delete(this.#refused.values().next().value ?? key);
  }
}
