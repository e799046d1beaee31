// The lanes' scheduler: per lane a queue of work for its one thread, handed over one task at a time, with its timer.
import type { InstanceCall } from '../../wasm/instance.js';
import type { InstanceAnswer, InstanceImage, InstanceTask, PackedState } from '../../worker/instance-protocol.js';
import type { InstanceLanes } from '../../worker/instance-lanes.js';
import { IdleSignal } from '../idle.js';
import type { Job } from '../job.js';
import type { InstanceRecord } from './record.js';

export type Done<T> = (result: T | Error) => void;

/** What a lane's thread is asked to do: run a job's call, build an instance, snapshot one, or forget one. */
export type Work =
  | { kind: 'job'; job: Job; instance: InstanceRecord; call: InstanceCall }
  | { kind: 'open'; instance: InstanceRecord; image: InstanceImage; done: Done<InstanceAnswer> }
  | { kind: 'snapshot'; instance: InstanceRecord; drop: boolean; done: Done<PackedState> }
  | { kind: 'drop'; instanceId: string };

/** What the manager decides as work passes through a lane. */
export interface LaneHandlers {
  /** The task for `work`, or undefined when there is nothing to do (the work is skipped). */
  taskOf(work: Work): InstanceTask | undefined;
  /** A job got its lane's thread. */
  started(job: Job): void;
  /** A job ran past its timeout_ms (its task is aborted right after). */
  timedOut(job: Job): void;
  answered(lane: number, work: Work, answer: InstanceAnswer): void;
  /** Piscina rejected the task: aborted by us, or its thread died; `timedOut` when the lane's timer aborted it. */
  failed(lane: number, work: Work, err: unknown, timedOut: boolean): void;
}

interface Lane {
  index: number;
  queue: Work[];
  busy: { work: Work; controller: AbortController; timer: NodeJS.Timeout | undefined } | undefined;
}

const isJob = (work: Work | undefined, job: Job): boolean => work?.kind === 'job' && work.job === job;

export class LaneScheduler {
  readonly #lanes: Lane[];
  readonly #threads: InstanceLanes;
  readonly #handlers: LaneHandlers;
  /** How long building an instance (its init, or a restore) may run. */
  readonly #openTimeoutMs: number;
  readonly #onError: (err: unknown) => void;
  readonly #idle = new IdleSignal();
  #queued = 0;

  constructor(threads: InstanceLanes, handlers: LaneHandlers, openTimeoutMs: number, onError: (err: unknown) => void) {
    this.#threads = threads;
    this.#handlers = handlers;
    this.#openTimeoutMs = openTimeoutMs;
    this.#onError = onError;
    this.#lanes = Array.from({ length: threads.count }, (_, index) => ({ index, queue: [], busy: undefined }));
  }

  get count(): number {
    return this.#lanes.length;
  }

  /** Jobs waiting for their lane. */
  get queued(): number {
    return this.#queued;
  }

  /** Jobs on a lane's thread now. */
  get running(): number {
    return this.#lanes.filter((l) => l.busy?.work.kind === 'job').length;
  }

  push(lane: number, work: Work): void {
    const target = this.#lanes[lane]!;
    if (work.kind === 'job') this.#queued++;
    target.queue.push(work);
    this.#dispatch(target);
  }

  /** Sends `work` again first (the thread lost its instance); it runs once the current task ends. */
  retry(lane: number, work: Work): void {
    if (work.kind === 'job') this.#queued++;
    this.#lanes[lane]!.queue.unshift(work);
  }

  /** Whether `job` waits or runs on a lane. */
  holds(job: Job): boolean {
    return this.#lanes.some((l) => isJob(l.busy?.work, job) || l.queue.some((w) => isJob(w, job)));
  }

  /** Takes `job` out of its lane's queue ('queued'), or aborts its task ('running'); undefined if it is on no lane. */
  withdraw(job: Job, reason: string): 'queued' | 'running' | undefined {
    for (const lane of this.#lanes) {
      const at = lane.queue.findIndex((w) => isJob(w, job));
      if (at >= 0) {
        lane.queue.splice(at, 1);
        this.#queued--;
        return 'queued';
      }
      if (isJob(lane.busy?.work, job)) {
        lane.busy?.controller.abort(reason);
        return 'running';
      }
    }
    return undefined;
  }

  /** Takes every waiting work of `instance` off its lane; answers them and the work its thread runs now, if it is the instance's. */
  remove(instance: InstanceRecord): { queued: Work[]; busy: Work | undefined } {
    const lane = this.#lanes[instance.lane]!;
    const queued = lane.queue.filter((w) => 'instance' in w && w.instance === instance);
    lane.queue = lane.queue.filter((w) => !queued.includes(w));
    this.#queued -= queued.filter((w) => w.kind === 'job').length;
    const busy = lane.busy?.work;
    return { queued, busy: busy !== undefined && 'instance' in busy && busy.instance === instance ? busy : undefined };
  }

  /** Aborts what lane `lane`'s thread runs (terminating the thread). */
  abort(lane: number, reason: string): void {
    this.#lanes[lane]?.busy?.controller.abort(reason);
  }

  /** Empties every queue and answers what was in them. */
  drain(): Work[] {
    const drained = this.#lanes.flatMap((lane) => lane.queue.splice(0));
    this.#queued = 0;
    return drained;
  }

  /** What the threads run now. */
  busy(): Work[] {
    return this.#lanes.flatMap((lane) => (lane.busy === undefined ? [] : [lane.busy.work]));
  }

  /** Resolves once no thread runs anything, or after `graceMs`. */
  async idle(graceMs: number): Promise<void> {
    if (this.#lanes.some((l) => l.busy !== undefined) && graceMs > 0) await this.#idle.wait(graceMs);
  }

  /** Aborts every task and destroys the lanes' threads. */
  async destroy(reason: string): Promise<void> {
    for (const lane of this.#lanes) lane.busy?.controller.abort(reason);
    await this.#threads.destroy();
  }

  /** Hands the lane its next task, one at a time, so that a task's start (and timeout) is known exactly. */
  #dispatch(lane: Lane): void {
    while (lane.busy === undefined) {
      const work = lane.queue.shift();
      if (work === undefined) {
        if (this.#lanes.every((l) => l.busy === undefined)) this.#idle.notify();
        return;
      }
      if (work.kind === 'job') this.#queued--;
      const task = this.#handlers.taskOf(work);
      if (task === undefined) continue;
      const controller = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      if (work.kind === 'job') {
        this.#handlers.started(work.job);
        const { job } = work;
        timer = setTimeout(() => {
          this.#handlers.timedOut(job);
          controller.abort('WASM64_TIMEOUT');
        }, job.timeoutMs);
      } else if (work.kind === 'open') {
        timer = setTimeout(() => controller.abort('WASM64_TIMEOUT'), this.#openTimeoutMs);
      }
      lane.busy = { work, controller, timer };
      this.#threads
        .run(lane.index, task, controller.signal)
        .then(
          (answer) => this.#handlers.answered(lane.index, work, answer),
          (err: unknown) => this.#handlers.failed(lane.index, work, err, controller.signal.aborted && controller.signal.reason === 'WASM64_TIMEOUT'),
        )
        .catch(this.#onError)
        .finally(() => {
          clearTimeout(timer);
          lane.busy = undefined;
          this.#dispatch(lane);
        });
    }
  }
}
