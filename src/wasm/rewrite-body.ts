// Rewrites one function body for its limits: a fuel meter at the start of each region, and every
// `memory.grow` of a capped memory through its guard. Pure byte-level work; instrument.ts drives it per module.
import { BinaryReader, ModuleFormatError } from './binary-reader.js';
import type { BinaryWriter } from './binary-writer.js';
import { Op, readInstruction, skipValueType } from './instructions.js';

export interface BodyRewrite {
  /** Meter fuel (else only the memory guards are put in). */
  fuel: boolean;
  /** The i64 global holding the fuel left, the i32 status global, and the status that means "out of fuel". */
  fuelGlobal: number;
  statusGlobal: number;
  fuelExhausted: number;
  /** The function index of the guard for `memory`, or undefined when that memory is not capped. */
  guardFor: (memory: number) => number | undefined;
}

// What the rewriter needs to know of each one-byte opcode, as bit flags in a table (the decode loop's hot path).
/**
 * A new metered region starts after it: the next instruction can be reached by a branch, starts a branch
 * of an if, or a handler. A conditional branch out (br_if) does not end a region: the region is charged
 * in full when entered, so leaving it early costs the instructions skipped, and a loop pays one meter per
 * iteration instead of one per br_if.
 */
const REGION_STARTS_AFTER = 1;
/** Nothing runs after it until the next region starts (that code is unreachable), so nothing there is charged. */
const TERMINATOR = 2;
const OPENS_BLOCK = 4;
/** A structural marker: it delimits code rather than executes, so it costs nothing. */
const FREE = 8;
/** Exception handling moves control in ways the cached fuel local cannot follow: such functions meter the global directly. */
const EXCEPTION_HANDLING = 16;
const CALL = 32;
/** Leaves the function (return, tail calls): the fuel local is written back first. */
const LEAVES = 64;
/** Branches to a label, which may be the function's own: then it leaves the function too. */
const BRANCH = 128;

const FLAGS = new Uint8Array(256);
const flag = (bits: number, ...ops: number[]): void => ops.forEach((op) => (FLAGS[op] = (FLAGS[op] ?? 0) | bits));
flag(REGION_STARTS_AFTER, Op.loop, Op.if, Op.else, Op.end, Op.catch, Op.catchAll, Op.delegate);
flag(TERMINATOR, Op.br, Op.brTable, Op.return, Op.unreachable, Op.throw, Op.rethrow, Op.throwRef, Op.returnCall, Op.returnCallIndirect, Op.returnCallRef);
flag(OPENS_BLOCK, Op.block, Op.loop, Op.if, Op.try, Op.tryTable);
flag(FREE, Op.end, Op.else, Op.catch, Op.catchAll, Op.delegate);
flag(EXCEPTION_HANDLING, Op.try, Op.catch, Op.throw, Op.rethrow, Op.throwRef, Op.delegate, Op.catchAll, Op.tryTable);
flag(CALL, 0x10, 0x11, 0x14);
flag(LEAVES, Op.return, Op.returnCall, Op.returnCallIndirect, Op.returnCallRef);
flag(BRANCH, Op.br, Op.brIf, Op.brTable, Op.brOnNull, Op.brOnNonNull);

const I64 = 0x7e;

/** Thrown inside the fast path when a function needs the global-metered one. */
class NeedsGlobalMetering extends Error {}

/** The labels a branch instruction at `at` may take. */
function branchLabels(bytes: Uint8Array, at: number, op: number): number[] {
  const r = new BinaryReader(bytes, at + 1);
  if (op !== Op.brTable) return [r.u32()];
  const labels: number[] = [];
  for (let n = r.u32() + 1; n > 0; n--) labels.push(r.u32());
  return labels;
}

/** What replaces an original instruction: its guard call, or the instruction with the fuel local written back around it. */
type Edit =
  | { start: number; end: number; kind: 'guard'; guard: number }
  | { start: number; end: number; kind: 'call' | 'leave' };

/**
 * Rewrites the body at `bytes[start, end)` of a function taking `params` parameters into `out`,
 * size-prefixed, using `scratch` as working space. Fuel is cached in a new local: each region subtracts
 * its cost from the local and traps (status set) when it goes below zero; the local is written back to
 * the fuel global before anything that leaves the function or calls out (call, return, a branch to the
 * function's own label, its end), and read again after a call. Functions with exception handling meter
 * the global at every region instead.
 */
export function rewriteBody(bytes: Uint8Array, start: number, end: number, params: number, rewrite: BodyRewrite, out: BinaryWriter, scratch: BinaryWriter): void {
  if (rewrite.fuel) {
    try {
      rewriteWith(bytes, start, end, params, rewrite, true, scratch.reset());
      out.uleb(scratch.length).bytes(scratch.view());
      return;
    } catch (err) {
      if (!(err instanceof NeedsGlobalMetering)) throw err;
    }
  }
  rewriteWith(bytes, start, end, params, rewrite, false, scratch.reset());
  out.uleb(scratch.length).bytes(scratch.view());
}

function rewriteWith(bytes: Uint8Array, start: number, end: number, params: number, rewrite: BodyRewrite, cached: boolean, body: BinaryWriter): void {
  const r = new BinaryReader(bytes.subarray(0, end), start);
  const entries = r.u32();
  const entriesStart = r.offset;
  let locals = 0;
  for (let n = entries; n > 0; n--) {
    locals += r.u32();
    skipValueType(r);
  }
  const fuelLocal = params + locals;
  const { fuelGlobal, statusGlobal, fuelExhausted } = rewrite;
  if (cached) {
    body.uleb(entries + 1).bytes(bytes.subarray(entriesStart, r.offset)).byte(0x01).byte(I64);
  } else {
    body.bytes(bytes.subarray(start, r.offset));
  }
  const writeBack = (): void => void body.byte(0x20).uleb(fuelLocal).byte(0x24).uleb(fuelGlobal);
  const reload = (): void => void body.byte(0x23).uleb(fuelGlobal).byte(0x21).uleb(fuelLocal);
  if (cached) reload();

  const meter = (cost: number): void => {
    if (cached) {
      // fuel -= cost; if (fuel < 0) { status = exhausted; unreachable }
      body.byte(0x20).uleb(fuelLocal).byte(0x42).sleb(cost).byte(0x7d).byte(0x22).uleb(fuelLocal).byte(0x42).byte(0x00).byte(0x53);
    } else {
      // if (fuel < cost) { status = exhausted; unreachable } fuel -= cost
      body.byte(0x23).uleb(fuelGlobal).byte(0x42).sleb(cost).byte(0x54);
    }
    body.byte(0x04).byte(0x40).byte(0x41).sleb(fuelExhausted).byte(0x24).uleb(statusGlobal).byte(0x00).byte(0x0b);
    if (!cached) body.byte(0x23).uleb(fuelGlobal).byte(0x42).sleb(cost).byte(0x7d).byte(0x24).uleb(fuelGlobal);
  };

  let depth = 1;
  let regionStart = r.offset;
  let cost = 0;
  /** After a terminator: the instructions until the next region starts cannot run, so they are not charged. */
  let unreachable = false;
  const edits: Edit[] = [];

  const flush = (regionEnd: number): void => {
    if (rewrite.fuel && cost > 0 && !unreachable) meter(cost);
    let from = regionStart;
    for (const edit of edits) {
      body.copy(bytes, from, edit.start);
      if (edit.kind === 'guard') {
        body.byte(0x10).uleb(edit.guard);
      } else {
        writeBack();
        body.copy(bytes, edit.start, edit.end);
        if (edit.kind === 'call') reload();
      }
      from = edit.end;
    }
    body.copy(bytes, from, regionEnd);
    regionStart = regionEnd;
    cost = 0;
    edits.length = 0;
  };

  while (depth > 0) {
    const at = r.offset;
    const op = readInstruction(r);
    const flags = op < 256 ? (FLAGS[op] ?? 0) : 0;
    if (op === Op.memoryGrow) {
      const guard = rewrite.guardFor(new BinaryReader(bytes, at + 1).u32());
      if (guard !== undefined) edits.push({ start: at, end: r.offset, kind: 'guard', guard });
    } else if (cached && flags !== 0) {
      if (flags & EXCEPTION_HANDLING) throw new NeedsGlobalMetering();
      if (flags & CALL) edits.push({ start: at, end: r.offset, kind: 'call' });
      else if (flags & LEAVES || (op === Op.end && depth === 1)) edits.push({ start: at, end: r.offset, kind: 'leave' });
      else if (flags & BRANCH && branchLabels(bytes, at, op).includes(depth - 1)) edits.push({ start: at, end: r.offset, kind: 'leave' });
    }
    if (!(flags & FREE)) cost++;
    if (flags & OPENS_BLOCK) depth++;
    else if (op === Op.end || op === Op.delegate) depth--;
    if (depth === 0 || (rewrite.fuel && flags & REGION_STARTS_AFTER)) {
      flush(r.offset);
      unreachable = false;
    } else if (rewrite.fuel && flags & TERMINATOR) {
      // The terminator itself belongs to the live region before it.
      flush(r.offset);
      unreachable = true;
    }
  }
  if (r.offset !== end) throw new ModuleFormatError(`function body ends at byte ${r.offset}, not at ${end}`);
}
