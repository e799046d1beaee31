// Runs admitted jobs on this process's pool: a queue, then batches (flights) of jobs that share one message.
import type { Logger } from 'pino';
import type { ErrorCode } from '../errors.js';
import type { WasmValue } from '../wasm/values.js';
import { BatchControl, FINISHED, PENDING, RUNNING } from '../worker/batch-control.js';
import { BatchAbort } from '../worker/pool.js';
import type { WorkerPool } from '../worker/pool.js';
import type { BatchOutcome, CallOptions, EvaluateOutcome, EvaluateTask } from '../worker/protocol.js';
import type { BatchPlan } from './batch-plan.js';
import { IdleSignal } from './idle.js';
import { isTerminal } from './job.js';
import type { Job } from './job.js';
import type { CompiledVariant } from './module-store.js';

/** A job to run: its compiled module and planned call. */
export interface RunPlan {
  job: Job;
  module: CompiledVariant;
  parameters: WasmValue[];
  /** WASI, memory I/O and reactor initialisation, as the task carries them. */
  call: CallOptions;
  /** Its module, function and metering, for the batch plan. */
  key: string;
  /** Called once the job has left the runner for good. */
  done?: () => void;
}

/** A job waiting for a thread, or out with the pool in a flight (then `flight` and its `index` there are set). */
interface Entry extends RunPlan {
  /** How often a lost batch sent it back to the queue; bounded, so a job that kills threads cannot loop. */
  requeues: number;
  /** Stopped by the core (cancel, timeout, shutdown): whatever its batch answers for it, that stands. */
  halted: boolean;
  flight: Flight | undefined;
  index: number;
}

/**
 * A batch the runner has handed to the pool: `control` says job by job what the thread has run, and
 * `abort` aborts the whole batch (terminating its thread if it runs).
 */
interface Flight {
  entries: Entry[];
  control: BatchControl;
  abort: BatchAbort;
  /** The runner aborted it to stop one job: its other unfinished jobs go back to the queue. */
  aborted: boolean;
}

/** What the runner tells the core. */
export interface RunnerHooks {
  /** A thread claimed the job at `startedAt` (the worker's wall clock). */
  started(job: Job, startedAt: number): void;
  /** The job ran; `outcome` is what its evaluation produced. */
  finished(job: Job, outcome: EvaluateOutcome): void;
  /** The job must end without an outcome: its thread died (WASM64_WORKER_FAILED), or it timed out or was sent back while closing. */
  stop(job: Job, code: ErrorCode, message: string): void;
}

/** A job that lost its batch this many times (its thread died under another job) fails instead of running again. */
const MAX_REQUEUES = 3;

/**
 * Jobs wait in `#queue` (a Map in arrival order), then go to the pool in batches (flights): at most
 * `threads * 2` flights are out at once, so each thread has one batch running and one ready behind it. Jobs
 * known to be short share a batch (see BatchPlan), so one message each way carries many of them; others
 * travel alone. A batch's BatchControl tells the runner, without a message, which of its jobs the thread has
 * started and when: a job is `running` from that moment and its timeout counts from it. Halting a job the
 * thread has not reached withdraws it (the thread skips it); halting the one it runs aborts the batch, which
 * terminates the thread, and the batch's other unfinished jobs go back to the front of the queue to run
 * again (jobs are pure: running one twice gives the same outcome).
 */
export class PoolRunner {
  readonly #pool: WorkerPool;
  readonly #plan: BatchPlan;
  readonly #log: Logger;
  readonly #hooks: RunnerHooks;
  readonly #queue = new Map<string, Entry>();
  /** Jobs out with the pool, by id. */
  readonly #dispatched = new Map<string, Entry>();
  readonly #flights = new Set<Flight>();
  #dispatchScheduled = false;
  #closing = false;
  readonly #idle = new IdleSignal();

  constructor(pool: WorkerPool, plan: BatchPlan, logger: Logger, hooks: RunnerHooks) {
    this.#pool = pool;
    this.#plan = plan;
    this.#log = logger;
    this.#hooks = hooks;
  }

  /** Jobs waiting in the queue (what the queue limit counts). */
  get waiting(): number {
    return this.#queue.size;
  }

  /** Jobs accepted and waiting for a thread: in the queue, or in a batch their thread has not reached. */
  get queued(): number {
    let pending = 0;
    for (const { control } of this.#flights) for (let i = 0; i < control.size; i++) if (control.state(i) === PENDING) pending++;
    return this.#queue.size + pending;
  }

  /** Jobs on a thread now. */
  get running(): number {
    let running = 0;
    for (const { control } of this.#flights) if (control.running() >= 0) running++;
    return running;
  }

  has(id: string): boolean {
    return this.#queue.has(id) || this.#dispatched.has(id);
  }

  /** Whether the core stopped this job already. */
  halted(id: string): boolean {
    return (this.#queue.get(id) ?? this.#dispatched.get(id))?.halted === true;
  }

  /** Queues a job; it goes to the pool after the current turn, with those submitted beside it. */
  enqueue(job: Job, module: CompiledVariant, parameters: WasmValue[], call: CallOptions, key: string, done?: () => void): void {
    const entry: Entry = { job, module, parameters, call, key, requeues: 0, halted: false, flight: undefined, index: 0 };
    if (done !== undefined) entry.done = done;
    this.#queue.set(job.id, entry);
    this.#scheduleDispatch();
  }

  /** Marks a job out with the pool `running` if its thread has claimed it (a read between the runner's own looks). */
  observe(id: string): void {
    this.#observe(this.#dispatched.get(id));
  }

  /** Takes a job out: out of the queue, withdrawn from its batch, or its batch aborted if its thread runs it. */
  halt(id: string, reason: string): void {
    const queued = this.#queue.get(id);
    if (queued !== undefined) {
      this.#queue.delete(id);
      queued.halted = true;
      queued.done?.();
      return;
    }
    const entry = this.#dispatched.get(id);
    const flight = entry?.flight;
    if (entry === undefined || flight === undefined) return;
    entry.halted = true;
    if (flight.aborted) return;
    if (flight.control.withdraw(entry.index) === RUNNING) {
      flight.aborted = true;
      // Piscina rejects the batch at once and terminates its thread; #finish sends the rest back to the queue.
      flight.abort.abort(reason);
    }
  }

  /** The jobs no thread has started: queued, or in a batch their thread has not reached. */
  unstarted(): Job[] {
    const jobs = [...this.#queue.values()].map((e) => e.job);
    for (const entry of this.#dispatched.values()) if (entry.flight?.control.state(entry.index) === PENDING) jobs.push(entry.job);
    return jobs;
  }

  /** Every job the runner holds. */
  all(): Job[] {
    return [...this.#queue.values(), ...this.#dispatched.values()].map((e) => e.job);
  }

  /** Shutdown: nothing more goes to the pool, and jobs whose batch is lost end instead of running again. */
  close(): void {
    this.#closing = true;
  }

  /** Resolves once no batch is out with the pool, or after `graceMs`. */
  async idle(graceMs: number): Promise<void> {
    if (this.#flights.size > 0 && graceMs > 0) await this.#idle.wait(graceMs);
  }

  /** Stops (through the core) each job a thread has run for longer than its timeout. */
  sweep(now: number): void {
    if (this.#flights.size === 0) return;
    for (const flight of [...this.#flights]) {
      const running = flight.entries[flight.control.running()];
      if (running === undefined || running.halted || isTerminal(running.job)) continue;
      this.#observe(running);
      const { job } = running;
      if (now - (job.startedAt ?? now) >= job.timeoutMs) this.#hooks.stop(job, 'WASM64_TIMEOUT', '');
    }
  }

  /** Dispatches after the current turn, so that jobs submitted together go to the pool together. */
  #scheduleDispatch(): void {
    if (this.#dispatchScheduled) return;
    this.#dispatchScheduled = true;
    setImmediate(() => {
      this.#dispatchScheduled = false;
      this.#dispatch();
    });
  }

  #dispatch(): void {
    const slots = this.#pool.threads * 2;
    while (!this.#closing && this.#flights.size < slots && this.#queue.size > 0) {
      const entries = this.#plan.take(this.#queue.values(), (e) => e.key);
      const flight: Flight = { entries, control: new BatchControl(entries.length), abort: new BatchAbort(), aborted: false };
      const tasks: EvaluateTask[] = [];
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i] as Entry;
        this.#queue.delete(entry.job.id);
        this.#dispatched.set(entry.job.id, entry);
        entry.flight = flight;
        entry.index = i;
        tasks.push({
          jobId: entry.job.id,
          module: entry.module.module,
          instrumentation: entry.module.instrumentation,
          fuel: entry.job.fuel ?? null,
          reuse: entry.module.reuse,
          function: entry.job.function,
          parameters: entry.parameters,
          call: entry.call,
        });
      }
      this.#flights.add(flight);
      this.#pool
        .run({ tasks, control: flight.control.buffer }, flight.abort)
        .then(
          (outcomes) => this.#finish(flight, outcomes),
          (err: unknown) => this.#finish(flight, undefined, err),
        )
        // A fault in recording the outcomes must not become an unhandled rejection, which ends the process.
        .catch((err: unknown) => this.#log.error({ err, jobs: entries.map((e) => e.job.id) }, 'recording how a batch ended failed'));
    }
  }

  #observe(entry: Entry | undefined): void {
    const flight = entry?.flight;
    if (entry === undefined || flight === undefined) return;
    const state = flight.control.state(entry.index);
    if (state === RUNNING || state === FINISHED) this.#hooks.started(entry.job, flight.control.startedAt(entry.index));
  }

  /** The pool answered (or rejected) a batch: report each job's outcome, requeue what it lost, dispatch more. */
  #finish(flight: Flight, outcomes: BatchOutcome | undefined, err?: unknown): void {
    this.#flights.delete(flight);
    const lost: Entry[] = [];
    const crashed = outcomes === undefined && !flight.aborted ? flight.control.running() : -1;
    for (let i = 0; i < flight.entries.length; i++) {
      const entry = flight.entries[i] as Entry;
      const { job } = entry;
      this.#dispatched.delete(job.id);
      entry.flight = undefined;
      const outcome = outcomes?.[i];
      if (entry.halted || isTerminal(job)) {
        // Cancelled, timed out or shut down while out with the pool: that outcome stands.
        entry.done?.();
      } else if (outcome !== undefined && outcome !== null) {
        this.#hooks.started(job, outcome.startedAt);
        this.#plan.observe(entry.key, outcome.durationMs);
        this.#hooks.finished(job, outcome);
        entry.done?.();
      } else if (i === crashed || (outcomes === undefined && !flight.aborted && entry.requeues >= MAX_REQUEUES)) {
        // Not an abort of ours: the thread died under this job (or it kept losing its batch).
        this.#log.error({ job: job.id, err }, 'job failed: the worker running it failed');
        this.#hooks.stop(job, 'WASM64_WORKER_FAILED', err instanceof Error ? err.message : String(err));
        entry.done?.();
      } else {
        lost.push(entry);
      }
    }
    if (lost.length > 0) this.#requeue(lost);
    if (this.#flights.size === 0) this.#idle.notify();
    this.#dispatch();
  }

  /** Puts jobs whose batch was lost back at the front of the queue, in their order, as if never started. */
  #requeue(lost: Entry[]): void {
    if (this.#closing) {
      for (const entry of lost) {
        this.#hooks.stop(entry.job, 'WASM64_SHUTDOWN', '');
        entry.done?.();
      }
      return;
    }
    const waiting = [...this.#queue.values()];
    this.#queue.clear();
    for (const entry of lost) {
      entry.requeues++;
      entry.job.status = 'queued';
      delete entry.job.startedAt;
      this.#queue.set(entry.job.id, entry);
    }
    for (const entry of waiting) this.#queue.set(entry.job.id, entry);
    this.#log.info({ jobs: lost.length }, 'jobs sent back to the queue: their batch lost its thread');
  }
}
