// Writes the primitive encodings of a wasm binary into a growing buffer: bytes, LEB128 integers, names.

const utf8 = new TextEncoder();

export class BinaryWriter {
  #buffer: Uint8Array;
  #length = 0;

  constructor(capacity = 64) {
    this.#buffer = new Uint8Array(capacity);
  }

  get length(): number {
    return this.#length;
  }

  #reserve(n: number): void {
    if (this.#length + n <= this.#buffer.length) return;
    let size = this.#buffer.length * 2;
    while (size < this.#length + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
  }

  byte(b: number): this {
    this.#reserve(1);
    this.#buffer[this.#length++] = b;
    return this;
  }

  bytes(data: Uint8Array): this {
    this.#reserve(data.length);
    this.#buffer.set(data, this.#length);
    this.#length += data.length;
    return this;
  }

  /** Appends `source[from, to)`; short ranges byte by byte, which beats making a subarray for them. */
  copy(source: Uint8Array, from: number, to: number): this {
    const n = to - from;
    this.#reserve(n);
    if (n < 64) {
      const buffer = this.#buffer;
      let at = this.#length;
      for (let i = from; i < to; i++) buffer[at++] = source[i] ?? 0;
    } else {
      this.#buffer.set(source.subarray(from, to), this.#length);
    }
    this.#length += n;
    return this;
  }

  /** An unsigned LEB128 (u32 indexes and sizes, u64 memory limits). */
  uleb(value: number | bigint): this {
    if (typeof value === 'number' && value >= 0 && value <= 0x7fffffff) {
      let n = value;
      while (n >= 0x80) {
        this.byte((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      return this.byte(n);
    }
    let v = BigInt(value);
    if (v < 0n) throw new RangeError(`uleb of a negative value: ${v}`);
    do {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      this.byte(v === 0n ? b : b | 0x80);
    } while (v !== 0n);
    return this;
  }

  /** A signed LEB128 (i32.const and i64.const immediates). */
  sleb(value: number | bigint): this {
    if (typeof value === 'number' && Number.isInteger(value) && value >= -0x80000000 && value <= 0x7fffffff) {
      let n = value;
      for (;;) {
        const b = n & 0x7f;
        n >>= 7;
        const done = (n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0);
        this.byte(done ? b : b | 0x80);
        if (done) return this;
      }
    }
    let v = BigInt(value);
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
      this.byte(done ? b : b | 0x80);
      if (done) return this;
    }
  }

  name(text: string): this {
    const encoded = utf8.encode(text);
    return this.uleb(encoded.length).bytes(encoded);
  }

  /** Appends `content` prefixed with its length (a section payload, a function body). */
  sized(content: Uint8Array): this {
    return this.uleb(content.length).bytes(content);
  }

  finish(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }

  /** What is written so far, without copying: valid until the next write or reset. */
  view(): Uint8Array {
    return this.#buffer.subarray(0, this.#length);
  }

  /** Empties the writer and keeps its buffer, for reuse. */
  reset(): this {
    this.#length = 0;
    return this;
  }
}
