// Rewrites a module so a worker can hold it to its limits: caps each memory's declared maximum, turns
// growth past that cap into a trap the worker can tell apart, and optionally meters fuel per basic block.
import { BinaryReader, ModuleFormatError } from './binary-reader.js';
import { BinaryWriter } from './binary-writer.js';
import { skipValueType } from './instructions.js';
import { rewriteBody } from './rewrite-body.js';
import type { BodyRewrite } from './rewrite-body.js';

export interface InstrumentOptions {
  /** Largest size, in 64 KiB pages, any memory the module defines may reach; null leaves memories as declared. */
  memoryCapPages: number | null;
  /** Meter fuel: every instruction costs one unit, charged when its basic block is entered. */
  fuel: boolean;
}

/** Why an instrumented module trapped on purpose, as its status global reads afterwards. */
export const Status = { running: 0, fuelExhausted: 1, memoryLimit: 2 } as const;

/** What the worker needs to drive an instrumented module: the names of what the rewriter exported. */
export interface Instrumentation {
  /** A mutable i32 global: a Status value once the module trapped on purpose, else 0. */
  status: string;
  /** A mutable i64 global holding the fuel left: set it before running anything. */
  fuel: string | null;
  /** The module's start function, exported instead of run at instantiation, so it runs metered and capped. */
  start: string | null;
}

export interface InstrumentedModule {
  bytes: Uint8Array;
  /** Null when nothing needs driving (no fuel, and no code grows a capped memory). */
  instrumentation: Instrumentation | null;
  /** Memories whose declared maximum was lowered to the cap. */
  cappedMemories: number;
}

/** Thrown when a memory's declared minimum is already above the cap (callers refuse such a module first). */
export class MemoryCapError extends Error {
  override readonly name = 'MemoryCapError';
}

const I32 = 0x7f;
const I64 = 0x7e;
/** The most pages the spec lets a memory declare: 4 GiB for wasm32, 2^48 pages for memory64. */
const MAX_PAGES = { i32: 65_536, i64: 2 ** 48 } as const;
const SECTION_ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];

export interface Section {
  id: number;
  start: number;
  end: number;
}

interface CappedMemory {
  index: number;
  type: 'i32' | 'i64';
  capPages: number;
}

export function readSections(bytes: Uint8Array): Section[] {
  if (bytes.length < 8 || bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new ModuleFormatError('not a wasm binary: missing the \\0asm magic number');
  }
  const r = new BinaryReader(bytes, 8);
  const sections: Section[] = [];
  while (!r.done) {
    const id = r.byte();
    const size = r.u32();
    const start = r.offset;
    r.skip(size);
    sections.push({ id, start, end: r.offset });
  }
  return sections;
}

function skipLimits(r: BinaryReader): void {
  const flags = r.byte();
  r.skipLeb();
  if (flags & 0x01) r.skipLeb();
}

/** Counts what the import section adds to each index space. */
export function countImports(bytes: Uint8Array, section: Section | undefined): { functions: number; globals: number; memories: number } {
  const counts = { functions: 0, globals: 0, memories: 0 };
  if (section === undefined) return counts;
  const r = new BinaryReader(bytes, section.start);
  for (let n = r.u32(); n > 0; n--) {
    r.name();
    r.name();
    const kind = r.byte();
    if (kind === 0) { r.u32(); counts.functions++; }
    else if (kind === 1) { skipValueType(r); skipLimits(r); }
    else if (kind === 2) { skipLimits(r); counts.memories++; }
    else if (kind === 3) { skipValueType(r); r.byte(); counts.globals++; }
    else if (kind === 4) { r.byte(); r.u32(); }
    else throw new ModuleFormatError(`unknown import kind ${kind}`);
  }
  return counts;
}

/** The vector length at the head of a section, and where its entries begin. */
function vectorHead(bytes: Uint8Array, section: Section | undefined): { count: number; entries: Uint8Array } {
  if (section === undefined) return { count: 0, entries: new Uint8Array(0) };
  const r = new BinaryReader(bytes, section.start);
  const count = r.u32();
  return { count, entries: bytes.subarray(r.offset, section.end) };
}

/** A vector section with `extra` entries appended after the original ones. */
export function appendEntries(bytes: Uint8Array, section: Section | undefined, extra: Uint8Array[]): Uint8Array {
  const { count, entries } = vectorHead(bytes, section);
  const w = new BinaryWriter().uleb(count + extra.length).bytes(entries);
  for (const entry of extra) w.bytes(entry);
  return w.finish();
}

/** Lowers each defined memory's maximum to the cap; returns the new section and the memories it capped. */
function capMemories(bytes: Uint8Array, section: Section, firstIndex: number, capPages: number): { payload: Uint8Array; capped: CappedMemory[] } {
  const r = new BinaryReader(bytes, section.start);
  const w = new BinaryWriter();
  const capped: CappedMemory[] = [];
  const count = r.u32();
  w.uleb(count);
  for (let i = 0; i < count; i++) {
    const flags = r.byte();
    const min = r.uleb();
    const max = flags & 0x01 ? r.uleb() : null;
    const type = flags & 0x04 ? 'i64' : 'i32';
    const cap = BigInt(Math.min(capPages, MAX_PAGES[type]));
    if (min > cap) throw new MemoryCapError(`memory ${firstIndex + i} declares a minimum of ${min} pages, above the cap of ${cap}`);
    if (max === null ? cap < BigInt(MAX_PAGES[type]) : cap < max) {
      w.byte(flags | 0x01).uleb(min).uleb(cap);
      capped.push({ index: firstIndex + i, type, capPages: Number(cap) });
    } else {
      w.byte(flags).uleb(min);
      if (max !== null) w.uleb(max);
    }
  }
  return { payload: w.finish(), capped };
}

/**
 * The parameter count of each type. Checks that the type section holds only plain function types, so
 * appended types get the next indexes.
 */
function typeParams(bytes: Uint8Array, section: Section | undefined): number[] {
  const params: number[] = [];
  if (section === undefined) return params;
  const r = new BinaryReader(bytes, section.start);
  for (let n = r.u32(); n > 0; n--) {
    const form = r.byte();
    if (form !== 0x60) throw new ModuleFormatError(`unsupported type form 0x${form.toString(16)} (GC types cannot be instrumented)`);
    const count = r.u32();
    for (let p = count; p > 0; p--) skipValueType(r);
    for (let q = r.u32(); q > 0; q--) skipValueType(r);
    params.push(count);
  }
  return params;
}

/** The type index of each function the module defines. */
function functionTypes(bytes: Uint8Array, section: Section | undefined): number[] {
  if (section === undefined) return [];
  const r = new BinaryReader(bytes, section.start);
  return Array.from({ length: r.u32() }, () => r.u32());
}

export function exportNames(bytes: Uint8Array, section: Section | undefined): Set<string> {
  const names = new Set<string>();
  if (section === undefined) return names;
  const r = new BinaryReader(bytes, section.start);
  for (let n = r.u32(); n > 0; n--) {
    names.add(r.name());
    r.byte();
    r.u32();
  }
  return names;
}

export function uniqueName(base: string, taken: Set<string>): string {
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

/**
 * The function every `memory.grow` of a capped memory becomes: grows as asked, and when that fails
 * because it would pass the cap (not for any other reason) sets Status.memoryLimit and traps.
 */
function guardBody(memory: CappedMemory, statusGlobal: number): Uint8Array {
  const i64 = memory.type === 'i64';
  const w = new BinaryWriter();
  w.byte(0x01).byte(0x01).byte(i64 ? I64 : I32); // one local: the result
  w.byte(0x20).byte(0x00).byte(0x40).uleb(memory.index).byte(0x22).byte(0x01); // local.get delta; memory.grow; local.tee r
  w.byte(i64 ? 0x42 : 0x41).sleb(-1).byte(i64 ? 0x51 : 0x46); // r == -1
  w.byte(0x04).byte(0x40); // if
  w.byte(0x20).byte(0x00); //   delta
  w.byte(i64 ? 0x42 : 0x41).sleb(memory.capPages).byte(0x3f).uleb(memory.index).byte(i64 ? 0x7d : 0x6b); // cap - memory.size
  w.byte(i64 ? 0x56 : 0x4b).byte(0x04).byte(0x40); //   gt_u: if the cap is what stopped it
  w.byte(0x41).sleb(Status.memoryLimit).byte(0x24).uleb(statusGlobal).byte(0x00); // status = 2; unreachable
  w.byte(0x0b).byte(0x0b); // end end
  w.byte(0x20).byte(0x01).byte(0x0b); // local.get r; end
  return new BinaryWriter().sized(w.finish()).finish();
}

/**
 * Rewrites `bytes` (a module the engine has validated) for the given limits. Returns the original bytes
 * when nothing needs changing. Throws MemoryCapError when a memory's minimum is above the cap,
 * UnsupportedInstructionError for code it cannot decode, ModuleFormatError for a layout it cannot read.
 */
export function instrumentModule(bytes: Uint8Array, options: InstrumentOptions): InstrumentedModule {
  const sections = readSections(bytes);
  const find = (id: number): Section | undefined => sections.find((s) => s.id === id);
  const imports = countImports(bytes, find(2));
  const replaced = new Map<number, Uint8Array | null>();

  let capped: CappedMemory[] = [];
  const memorySection = find(5);
  if (options.memoryCapPages !== null && memorySection !== undefined) {
    const result = capMemories(bytes, memorySection, imports.memories, options.memoryCapPages);
    capped = result.capped;
    if (capped.length > 0) replaced.set(5, result.payload);
  }
  if (!options.fuel && capped.length === 0) return { bytes, instrumentation: null, cappedMemories: 0 };

  const params = typeParams(bytes, find(1));
  const types = functionTypes(bytes, find(3));
  const definedFunctions = types.length;
  const statusGlobal = imports.globals + vectorHead(bytes, find(6)).count;
  const guards = new Map<number, { memory: CappedMemory; index: number }>();
  const cappedByIndex = new Map(capped.map((m) => [m.index, m]));
  const rewrite: BodyRewrite = {
    fuel: options.fuel,
    fuelGlobal: statusGlobal + 1,
    statusGlobal,
    fuelExhausted: Status.fuelExhausted,
    // Guards are appended after every function the module has, in the order code first grows each memory.
    guardFor: (index) => {
      const memory = cappedByIndex.get(index);
      if (memory === undefined) return undefined;
      let guard = guards.get(index);
      if (guard === undefined) {
        guard = { memory, index: imports.functions + definedFunctions + guards.size };
        guards.set(index, guard);
      }
      return guard.index;
    },
  };

  const codeSection = find(10);
  const code = new BinaryWriter(bytes.length * 2);
  const scratch = new BinaryWriter(4096);
  const codeHead = vectorHead(bytes, codeSection);
  if (codeSection !== undefined) {
    const r = new BinaryReader(bytes, codeSection.start);
    r.u32();
    for (let i = 0; i < codeHead.count; i++) {
      const size = r.u32();
      const paramCount = params[types[i] ?? -1];
      if (paramCount === undefined) throw new ModuleFormatError(`function ${i} has no type`);
      rewriteBody(bytes, r.offset, r.offset + size, paramCount, rewrite, code, scratch);
      r.skip(size);
    }
  }

  if (!options.fuel && guards.size === 0) {
    // Nothing grows a capped memory: the lowered maximum alone enforces the cap.
    return { bytes: assemble(bytes, sections, replaced, new Map()), instrumentation: null, cappedMemories: capped.length };
  }

  const guardList = [...guards.values()];
  const typeCount = vectorHead(bytes, find(1)).count;
  const guardTypes = [...new Set(guardList.map((g) => g.memory.type))];
  const typeOf = (type: 'i32' | 'i64'): number => typeCount + guardTypes.indexOf(type);
  if (guardTypes.length > 0) {
    replaced.set(1, appendEntries(bytes, find(1), guardTypes.map((t) => {
      const v = t === 'i64' ? I64 : I32;
      return Uint8Array.of(0x60, 0x01, v, 0x01, v);
    })));
    replaced.set(3, appendEntries(bytes, find(3), guardList.map((g) => new BinaryWriter().uleb(typeOf(g.memory.type)).finish())));
  }
  for (const g of guardList) code.bytes(guardBody(g.memory, statusGlobal));
  replaced.set(10, new BinaryWriter().uleb(codeHead.count + guardList.length).bytes(code.finish()).finish());

  const globals = [Uint8Array.of(I32, 0x01, 0x41, 0x00, 0x0b)];
  if (options.fuel) globals.push(Uint8Array.of(I64, 0x01, 0x42, 0x00, 0x0b));
  replaced.set(6, appendEntries(bytes, find(6), globals));

  const taken = exportNames(bytes, find(7));
  const instrumentation: Instrumentation = { status: uniqueName('__wasm64_status', taken), fuel: null, start: null };
  const exported = [new BinaryWriter().name(instrumentation.status).byte(0x03).uleb(statusGlobal).finish()];
  if (options.fuel) {
    instrumentation.fuel = uniqueName('__wasm64_fuel', taken);
    exported.push(new BinaryWriter().name(instrumentation.fuel).byte(0x03).uleb(rewrite.fuelGlobal).finish());
  }
  const startSection = find(8);
  if (startSection !== undefined) {
    instrumentation.start = uniqueName('__wasm64_start', taken);
    const startFunction = new BinaryReader(bytes, startSection.start).u32();
    exported.push(new BinaryWriter().name(instrumentation.start).byte(0x00).uleb(startFunction).finish());
    replaced.set(8, null);
  }
  replaced.set(7, appendEntries(bytes, find(7), exported));

  const added = new Map([...replaced].filter(([id]) => find(id) === undefined));
  return { bytes: assemble(bytes, sections, replaced, added), instrumentation, cappedMemories: capped.length };
}

/**
 * The module with `replaced` section payloads swapped in (null drops a section) and `added` sections
 * placed where the binary format orders them.
 */
export function assemble(bytes: Uint8Array, sections: Section[], replaced: Map<number, Uint8Array | null>, added: Map<number, Uint8Array | null>): Uint8Array {
  const w = new BinaryWriter().bytes(bytes.subarray(0, 8));
  const pending = [...added].filter((entry): entry is [number, Uint8Array] => entry[1] !== null);
  const rank = (id: number): number => SECTION_ORDER.indexOf(id);
  const flushBefore = (id: number): void => {
    pending.sort((a, b) => rank(a[0]) - rank(b[0]));
    while (pending.length > 0 && (id < 0 || rank(pending[0]![0]) < rank(id))) {
      const [addedId, payload] = pending.shift()!;
      w.byte(addedId).sized(payload);
    }
  };
  for (const section of sections) {
    if (section.id !== 0) flushBefore(section.id);
    const payload = replaced.has(section.id) && section.id !== 0 ? replaced.get(section.id) : bytes.subarray(section.start, section.end);
    if (payload === null || payload === undefined) continue;
    w.byte(section.id).sized(payload);
  }
  flushBefore(-1);
  return w.finish();
}
