// Shutdown's grace period: wait until the last running job has ended, or until the grace runs out, whichever is first.
export class IdleSignal {
  #wake: (() => void) | undefined;

  /** Resolves at the next `notify()`, or after `graceMs`. */
  async wait(graceMs: number): Promise<void> {
    let grace: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      grace = setTimeout(resolve, graceMs);
    });
    clearTimeout(grace);
    this.#wake = undefined;
  }

  /** Nothing runs any more: ends a pending `wait`. */
  notify(): void {
    this.#wake?.();
  }
}
