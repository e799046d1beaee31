// The shared memory through which the device and a worker agree, job by job, on what a batch has run.
//
// A batch is several jobs sent to a thread in one message (one message each way instead of one per job).
// Each job of the batch has a state word: the worker claims a job before running it, and the device may
// withdraw a job the worker has not claimed yet. Both are one compare-and-swap, so exactly one side wins:
// a withdrawn job is never run, and a claimed job is known to be running (with its start time) without a
// message. That lets the device cancel or time out one job of a batch precisely, and kill the thread only
// when the job to stop is the one running.

/** The job has not been started; the device may still withdraw it. */
export const PENDING = 0;
/** The worker has claimed the job and is running it (its start time is set). */
export const RUNNING = 1;
/** The device withdrew the job before the worker reached it; the worker skips it. */
export const WITHDRAWN = 2;
/** The worker finished the job; its outcome travels back with the batch's answer. */
export const FINISHED = 3;

export type JobState = typeof PENDING | typeof RUNNING | typeof WITHDRAWN | typeof FINISHED;

/** One batch's state words (Int32, for Atomics) and start times (Float64, epoch ms) over one SharedArrayBuffer. */
export class BatchControl {
  readonly size: number;
  readonly buffer: SharedArrayBuffer;
  readonly #states: Int32Array;
  readonly #startedAt: Float64Array;

  constructor(sizeOrBuffer: number | SharedArrayBuffer) {
    if (typeof sizeOrBuffer === 'number') {
      this.size = sizeOrBuffer;
      // Start times first: Float64Array needs an 8-byte-aligned offset.
      this.buffer = new SharedArrayBuffer(sizeOrBuffer * 12);
    } else {
      this.buffer = sizeOrBuffer;
      this.size = sizeOrBuffer.byteLength / 12;
    }
    this.#startedAt = new Float64Array(this.buffer, 0, this.size);
    this.#states = new Int32Array(this.buffer, this.size * 8, this.size);
  }

  /** Worker: takes job `i` unless the device withdrew it; records when it starts. */
  claim(i: number, now: number): boolean {
    // Written before the swap that publishes it: a device that reads RUNNING also reads this time.
    this.#startedAt[i] = now;
    return Atomics.compareExchange(this.#states, i, PENDING, RUNNING) === PENDING;
  }

  /** Worker: job `i` is done. */
  finish(i: number): void {
    Atomics.store(this.#states, i, FINISHED);
  }

  /** Device: withdraws job `i` if the worker has not claimed it; returns the state it found (PENDING: withdrawn now). */
  withdraw(i: number): JobState {
    return Atomics.compareExchange(this.#states, i, PENDING, WITHDRAWN) as JobState;
  }

  state(i: number): JobState {
    return Atomics.load(this.#states, i) as JobState;
  }

  /** When job `i` started (epoch ms, the worker's clock); meaningful once its state is RUNNING or FINISHED. */
  startedAt(i: number): number {
    return this.#startedAt[i] ?? Number.NaN;
  }

  /** The index of the job running now, or -1. */
  running(): number {
    for (let i = 0; i < this.size; i++) if (Atomics.load(this.#states, i) === RUNNING) return i;
    return -1;
  }
}
