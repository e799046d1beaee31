// Bounds-checked access to a guest's linear memory with 32- or 64-bit pointers, as WASI host calls need it.
import { ERRNO } from './abi.js';

/** Thrown inside a host call to answer with an errno; the call's wrapper turns it into the return value. */
export class WasiErrno extends Error {
  override readonly name = 'WasiErrno';
  constructor(readonly errno: number) {
    super(`errno ${errno}`);
  }
}

/** A pointer or size as wasm hands it over: a number for i32 parameters, a bigint for i64 ones. */
export type Address = number | bigint;

/** A preview1 function as the instance imports it: addresses and integers in, an errno (or nothing) out. */
export type HostFunction = (...args: Address[]) => number | undefined;

/** One iovec/ciovec: `len` bytes at `ptr`. */
export interface IoVector {
  ptr: number;
  len: number;
}

export class GuestMemory {
  /** Bytes in a pointer or size_t: 4 on a 32-bit memory, 8 on memory64. */
  readonly width: 4 | 8;
  readonly #memory: WebAssembly.Memory;
  #buffer: ArrayBuffer | undefined;
  #view: DataView | undefined;
  #bytes: Uint8Array | undefined;

  constructor(memory: WebAssembly.Memory, index: 'i32' | 'i64') {
    this.#memory = memory;
    this.width = index === 'i64' ? 8 : 4;
  }

  /** Views are rebuilt only when memory.grow replaced the buffer. */
  #refresh(): void {
    const buffer = this.#memory.buffer;
    if (buffer !== this.#buffer) {
      this.#buffer = buffer;
      this.#view = new DataView(buffer);
      this.#bytes = new Uint8Array(buffer);
    }
  }

  get view(): DataView {
    this.#refresh();
    return this.#view as DataView;
  }

  get bytes(): Uint8Array {
    this.#refresh();
    return this.#bytes as Uint8Array;
  }

  /** Converts a pointer or size to a number; i32 values arrive signed and are read as unsigned. */
  static address(value: Address): number {
    if (typeof value === 'number') return value >>> 0;
    const unsigned = BigInt.asUintN(64, value);
    if (unsigned > BigInt(Number.MAX_SAFE_INTEGER)) throw new WasiErrno(ERRNO.FAULT);
    return Number(unsigned);
  }

  /** Checks that `[ptr, ptr + len)` lies inside memory; answers EFAULT otherwise. */
  check(ptr: Address, len: number): number {
    const at = GuestMemory.address(ptr);
    if (at + len > this.bytes.length) throw new WasiErrno(ERRNO.FAULT);
    return at;
  }

  slice(ptr: Address, len: Address): Uint8Array {
    const n = GuestMemory.address(len);
    const at = this.check(ptr, n);
    return this.bytes.subarray(at, at + n);
  }

  write(ptr: Address, data: Uint8Array): void {
    this.bytes.set(data, this.check(ptr, data.length));
  }

  u8(ptr: Address, value: number): void {
    this.view.setUint8(this.check(ptr, 1), value);
  }

  u16(ptr: Address, value: number): void {
    this.view.setUint16(this.check(ptr, 2), value, true);
  }

  u32(ptr: Address, value: number): void {
    this.view.setUint32(this.check(ptr, 4), value, true);
  }

  u64(ptr: Address, value: bigint): void {
    this.view.setBigUint64(this.check(ptr, 8), BigInt.asUintN(64, value), true);
  }

  readU16(ptr: Address): number {
    return this.view.getUint16(this.check(ptr, 2), true);
  }

  readU32(ptr: Address): number {
    return this.view.getUint32(this.check(ptr, 4), true);
  }

  readU64(ptr: Address): bigint {
    return this.view.getBigUint64(this.check(ptr, 8), true);
  }

  /** Writes a pointer or size_t at the memory's width. */
  size(ptr: Address, value: number): void {
    if (this.width === 8) this.u64(ptr, BigInt(value));
    else this.u32(ptr, value);
  }

  readSize(ptr: Address): number {
    return this.width === 8 ? GuestMemory.address(this.readU64(ptr)) : this.readU32(ptr);
  }

  /** Reads `count` iovecs at `ptr`: {buf, buf_len} pairs of the memory's width. */
  ioVectors(ptr: Address, count: Address): IoVector[] {
    const n = GuestMemory.address(count);
    const base = this.check(ptr, n * 2 * this.width);
    const vectors: IoVector[] = [];
    for (let i = 0; i < n; i++) {
      const at = base + i * 2 * this.width;
      const vector = { ptr: this.readSize(at), len: this.readSize(at + this.width) };
      this.check(vector.ptr, vector.len);
      vectors.push(vector);
    }
    return vectors;
  }
}
