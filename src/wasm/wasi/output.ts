// A guest's stdout or stderr, captured in memory up to a cap; what is past the cap is counted, not kept.

export class CapturedOutput {
  readonly #limit: number;
  readonly #chunks: Uint8Array[] = [];
  #kept = 0;
  /** Every byte the guest wrote, kept or not. */
  written = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Keeps what fits under the cap (copying: the guest may reuse its buffer). */
  write(data: Uint8Array): void {
    this.written += data.length;
    const room = this.#limit - this.#kept;
    if (room <= 0 || data.length === 0) return;
    const kept = data.slice(0, Math.min(room, data.length));
    this.#chunks.push(kept);
    this.#kept += kept.length;
  }

  get truncated(): boolean {
    return this.written > this.#kept;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.#kept);
    let at = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
}
