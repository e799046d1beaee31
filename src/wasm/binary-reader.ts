// Reads the primitive encodings of a wasm binary: bytes, LEB128 integers, names.

/** Thrown for bytes that are not a well-formed wasm binary header or section layout. */
export class ModuleFormatError extends Error {
  override readonly name = 'ModuleFormatError';
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

export class BinaryReader {
  constructor(readonly bytes: Uint8Array, public offset = 0) {}

  get done(): boolean {
    return this.offset >= this.bytes.length;
  }

  byte(): number {
    const b = this.bytes[this.offset];
    if (b === undefined) throw new ModuleFormatError(`unexpected end of module at byte ${this.offset}`);
    this.offset += 1;
    return b;
  }

  /** An unsigned LEB128 of up to 64 bits, as a bigint. */
  uleb(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new ModuleFormatError(`LEB128 too long at byte ${this.offset}`);
    }
  }

  /** An unsigned 32-bit LEB128 (the hot path of code decoding: plain numbers, no bigint). */
  u32(): number {
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      result += (b & 0x7f) * multiplier;
      if ((b & 0x80) === 0) {
        if (result > 0xffffffff) throw new ModuleFormatError(`u32 out of range at byte ${this.offset}`);
        return result;
      }
      multiplier *= 128;
    }
    throw new ModuleFormatError(`u32 LEB128 too long at byte ${this.offset}`);
  }

  /** A signed LEB128 of up to 33 bits (block types, heap types), as a number. */
  s33(): number {
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      result += (b & 0x7f) * multiplier;
      multiplier *= 128;
      if ((b & 0x80) === 0) return b & 0x40 ? result - multiplier : result;
    }
    throw new ModuleFormatError(`s33 LEB128 too long at byte ${this.offset}`);
  }

  /** Skips a LEB128 of any width (an immediate whose value does not matter). */
  skipLeb(): void {
    for (let i = 0; i < 10; i++) if ((this.byte() & 0x80) === 0) return;
    throw new ModuleFormatError(`LEB128 too long at byte ${this.offset}`);
  }

  name(): string {
    const len = this.u32();
    const end = this.offset + len;
    if (end > this.bytes.length) throw new ModuleFormatError('name runs past the end of the module');
    const text = utf8.decode(this.bytes.subarray(this.offset, end));
    this.offset = end;
    return text;
  }

  skip(n: number): void {
    this.offset += n;
    if (this.offset > this.bytes.length) throw new ModuleFormatError('section runs past the end of the module');
  }
}
