// Memory I/O for plain calls: strings and bytes go into a module's memory through its allocator, results come back from a pointer.
import type { ExportedFunction, ModuleInfo, ValueType } from './module-info.js';
import { ParameterError } from './values.js';
import type { WasmValue } from './values.js';

/**
 * A parameter placed in memory. `string` is written as UTF-8 with a terminating NUL, `bytes` (base64) as is.
 * The function receives the pointer; with `length: true` it also receives the byte count (NUL excluded) as
 * the next parameter.
 */
export type MemoryParameterInput = { string: string; length?: boolean } | { bytes: string; length?: boolean };

/** How to read the function's result from memory: its first result is the pointer. */
export interface ReturnsSpec {
  type: 'string' | 'bytes';
  /** A byte count, `"next"` for the function's second result, or absent to read up to a NUL byte. */
  length?: number | 'next';
}

/** Bytes the worker writes into memory: the pointer goes to parameter `index`, and `length` (if set) to the next one. */
export interface Placement {
  index: number;
  data: Uint8Array;
  length?: number;
}

export const DEFAULT_ALLOCATOR = 'malloc';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function isMemoryParameter(input: unknown): input is MemoryParameterInput {
  return typeof input === 'object' && input !== null && ('string' in input || 'bytes' in input);
}

/** What parameter `index` places in memory; throws ParameterError for bad base64. A string's NUL is not in its length. */
export function placement(input: MemoryParameterInput, index: number): Placement {
  let data: Uint8Array;
  let length: number;
  if ('string' in input) {
    const text = new TextEncoder().encode(input.string);
    data = new Uint8Array(text.length + 1);
    data.set(text);
    length = text.length;
  } else {
    if (input.bytes.length % 4 === 1 || !BASE64.test(input.bytes)) {
      throw new ParameterError(`parameter ${index} "bytes" is not valid base64`, index);
    }
    data = new Uint8Array(Buffer.from(input.bytes, 'base64'));
    length = data.length;
  }
  return input.length === true ? { index, data, length } : { index, data };
}

/** The address type of `info`'s memory: pointers and sizes are i64 on memory64, else i32. */
export function addressType(info: ModuleInfo): 'i32' | 'i64' {
  return info.memory?.index ?? 'i32';
}

/** The exported memory name, if the module exports one (a guest's memory is reachable only through it). */
export function exportedMemory(info: ModuleInfo): string | undefined {
  return info.otherExports.find((e) => e.kind === 'memory')?.name;
}

/**
 * Why `allocator` cannot serve memory parameters, or undefined when it can: it must be an exported function
 * taking a size and returning a pointer, both of the memory's address type, and the memory must be exported.
 */
export function allocatorProblem(info: ModuleInfo, allocator: string): string | undefined {
  if (exportedMemory(info) === undefined) return 'the module exports no memory to write parameters into';
  const fn = info.exports.find((e) => e.name === allocator);
  const address = addressType(info);
  if (fn === undefined) return `the module exports no allocator "${allocator}" (export malloc, or name yours with "allocator")`;
  if (fn.params.length !== 1 || fn.params[0] !== address || fn.results.length !== 1 || fn.results[0] !== address) {
    return `allocator "${allocator}" must be (${address}) -> ${address}: it takes a size and returns a pointer; it is (${fn.params.join(', ')}) -> (${fn.results.join(', ')})`;
  }
  return undefined;
}

/** Why `returns` cannot read `fn`'s result, or undefined when it can. */
export function returnsProblem(info: ModuleInfo, fn: ExportedFunction, returns: ReturnsSpec): string | undefined {
  if (exportedMemory(info) === undefined) return 'the module exports no memory to read the result from';
  const integer = (t: ValueType | undefined): boolean => t === 'i32' || t === 'i64';
  if (!integer(fn.results[0])) return `"${fn.name}" returns (${fn.results.join(', ')}); reading memory needs a pointer (i32 or i64) as its first result`;
  if (returns.length === 'next' && !integer(fn.results[1])) {
    return `"returns.length": "next" needs "${fn.name}" to return a length (i32 or i64) as its second result`;
  }
  return undefined;
}

/** A run-time memory I/O failure: the allocator returned null or a pointer outside memory, a result pointer is bad. */
export class MemoryIoError extends Error {
  override readonly name = 'MemoryIoError';
}

function toAddress(value: unknown): number {
  if (typeof value === 'bigint') {
    const unsigned = BigInt.asUintN(64, value);
    return unsigned > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(unsigned);
  }
  return Number(value) >>> 0;
}

const asType = (n: number, type: 'i32' | 'i64'): WasmValue => (type === 'i64' ? BigInt(n) : n | 0);

/**
 * Writes each placement through `allocate` and puts its pointer (and length) into `args` at its index.
 * The memory is never freed: the instance is dropped when the job ends.
 */
export function placeParameters(
  memory: WebAssembly.Memory,
  allocate: (size: WasmValue) => unknown,
  type: 'i32' | 'i64',
  args: WasmValue[],
  placements: readonly Placement[],
): void {
  for (const p of placements) {
    const pointer = toAddress(allocate(asType(p.data.length, type)));
    if (pointer === 0) throw new MemoryIoError(`the allocator returned NULL for parameter ${p.index} (${p.data.length} bytes)`);
    const bytes = new Uint8Array(memory.buffer);
    if (pointer + p.data.length > bytes.length) {
      throw new MemoryIoError(`the allocator returned ${pointer} for parameter ${p.index}, past the end of memory`);
    }
    bytes.set(p.data, pointer);
    args[p.index] = asType(pointer, type);
    if (p.length !== undefined) args[p.index + 1] = asType(p.length, type);
  }
}

/**
 * Reads the result the function pointed at: `limit` bytes at most (the rest is cut and flagged).
 * A NUL-terminated read that meets the end of memory first is a MemoryIoError.
 */
export function readReturned(memory: WebAssembly.Memory, results: readonly unknown[], returns: ReturnsSpec, limit: number): { data: Uint8Array; truncated: boolean } {
  const bytes = new Uint8Array(memory.buffer);
  const pointer = toAddress(results[0]);
  if (pointer >= bytes.length) throw new MemoryIoError(`the result pointer ${pointer} is past the end of memory (${bytes.length} bytes)`);
  let length: number;
  if (returns.length === undefined) {
    // Look no further than the limit: a longer string is cut, not scanned to its end.
    const end = bytes.subarray(pointer, pointer + limit + 1).indexOf(0);
    if (end === -1 && pointer + limit + 1 > bytes.length) {
      throw new MemoryIoError(`the string at ${pointer} has no terminating NUL before the end of memory`);
    }
    length = end === -1 ? limit + 1 : end;
  } else {
    length = returns.length === 'next' ? toAddress(results[1]) : returns.length;
    if (pointer + length > bytes.length) throw new MemoryIoError(`the result [${pointer}, +${length}) runs past the end of memory (${bytes.length} bytes)`);
  }
  const kept = Math.min(length, limit);
  return { data: bytes.slice(pointer, pointer + kept), truncated: kept < length };
}
