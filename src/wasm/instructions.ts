// Decodes the instructions of a function body one at a time: the opcode, and the reader moved past its immediates.
import type { BinaryReader } from './binary-reader.js';

/** An opcode this decoder does not know (so it cannot tell where the instruction ends). */
export class UnsupportedInstructionError extends Error {
  override readonly name = 'UnsupportedInstructionError';
}

/** The opcodes the instrumenter treats specially; prefixed ones are reported as (prefix << 16) | sub-opcode. */
export const Op = {
  unreachable: 0x00,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  try: 0x06,
  catch: 0x07,
  throw: 0x08,
  rethrow: 0x09,
  throwRef: 0x0a,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  brTable: 0x0e,
  return: 0x0f,
  returnCall: 0x12,
  returnCallIndirect: 0x13,
  returnCallRef: 0x15,
  delegate: 0x18,
  catchAll: 0x19,
  tryTable: 0x1f,
  memoryGrow: 0x40,
  brOnNull: 0xd5,
  brOnNonNull: 0xd6,
} as const;

const REF = 0x63;
const REF_NON_NULL = 0x64;

/** A value type: one byte, or a reference type with its heap type (typed function references). */
export function skipValueType(r: BinaryReader): void {
  const b = r.byte();
  if (b === REF || b === REF_NON_NULL) r.s33();
}

function skipBlockType(r: BinaryReader): void {
  const b = r.bytes[r.offset];
  if (b === REF || b === REF_NON_NULL) {
    r.byte();
    r.s33();
  } else {
    r.s33();
  }
}

function skipMemarg(r: BinaryReader): void {
  const align = r.u32();
  if (align & 0x40) r.u32(); // multi-memory: a memory index follows
  r.skipLeb(); // the offset: u64 on memory64
}

function unsupported(what: string, at: number): never {
  throw new UnsupportedInstructionError(`unsupported instruction ${what} at byte ${at}`);
}

function readMiscPrefixed(r: BinaryReader, at: number): number {
  const sub = r.u32();
  if (sub <= 7) return sub; // saturating truncations
  switch (sub) {
    case 8: case 10: case 12: case 14: r.u32(); r.u32(); return sub; // memory.init, memory.copy, table.init, table.copy
    case 9: case 11: case 13: case 15: case 16: case 17: r.u32(); return sub; // data.drop, memory.fill, elem.drop, table.grow/size/fill
    default: return unsupported(`0xfc ${sub}`, at);
  }
}

function readSimd(r: BinaryReader, at: number): number {
  const sub = r.u32();
  if (sub <= 11 || sub === 92 || sub === 93) skipMemarg(r); // loads, stores, load*_zero
  else if (sub === 12 || sub === 13) r.skip(16); // v128.const, i8x16.shuffle
  else if (sub >= 21 && sub <= 34) r.byte(); // extract_lane, replace_lane
  else if (sub >= 84 && sub <= 91) { skipMemarg(r); r.byte(); } // load*_lane, store*_lane
  else if (sub > 0x113) unsupported(`0xfd ${sub}`, at); // beyond relaxed SIMD
  return sub;
}

function readAtomic(r: BinaryReader, at: number): number {
  const sub = r.u32();
  if (sub === 3) r.byte(); // atomic.fence
  else if (sub <= 2 || (sub >= 0x10 && sub <= 0x4e)) skipMemarg(r);
  else unsupported(`0xfe ${sub}`, at);
  return sub;
}

/** Reads one instruction at `r.offset` and returns its opcode; `r.offset` ends up at the next one. */
export function readInstruction(r: BinaryReader): number {
  const at = r.offset;
  const op = r.byte();
  if (op >= 0x45 && op <= 0xc4) return op; // numeric instructions have no immediates
  switch (op) {
    case 0x00: case 0x01: case 0x05: case 0x0a: case 0x0b: case 0x0f: case 0x19: case 0x1a: case 0x1b:
    case 0xd1: case 0xd3: case 0xd4:
      return op;
    case 0x02: case 0x03: case 0x04: case 0x06:
      skipBlockType(r);
      return op;
    case 0x07: case 0x08: case 0x09: case 0x0c: case 0x0d: case 0x10: case 0x12: case 0x14: case 0x15: case 0x18:
    case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25: case 0x26:
    case 0x3f: case 0x40: case 0xd2: case 0xd5: case 0xd6:
      r.u32();
      return op;
    case 0x0e:
      for (let n = r.u32() + 1; n > 0; n--) r.u32();
      return op;
    case 0x11: case 0x13:
      r.u32();
      r.u32();
      return op;
    case 0x1c:
      for (let n = r.u32(); n > 0; n--) skipValueType(r);
      return op;
    case 0x1f: {
      skipBlockType(r);
      for (let n = r.u32(); n > 0; n--) {
        const kind = r.byte();
        if (kind === 0 || kind === 1) r.u32();
        else if (kind !== 2 && kind !== 3) unsupported(`try_table catch kind ${kind}`, at);
        r.u32();
      }
      return op;
    }
    case 0x41: case 0x42:
      r.skipLeb();
      return op;
    case 0x43:
      r.skip(4);
      return op;
    case 0x44:
      r.skip(8);
      return op;
    case 0xd0:
      r.s33();
      return op;
    case 0xfc:
      return (0xfc << 16) | readMiscPrefixed(r, at);
    case 0xfd:
      return (0xfd << 16) | readSimd(r, at);
    case 0xfe:
      return (0xfe << 16) | readAtomic(r, at);
    default:
      if (op >= 0x28 && op <= 0x3e) {
        skipMemarg(r);
        return op;
      }
      return unsupported(`0x${op.toString(16)}`, at);
  }
}
