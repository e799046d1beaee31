// AO processes: live instances pinned to lanes, their jobs run in order, their last good state kept so that a
// trap, a timeout or an eviction never loses or half-writes them.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { ServiceError } from '../../errors.js';
import type { RunInput } from '../run-input.js';
import type { InstanceCreate, SnapshotView } from '../../schemas/instance.js';
import type { CallEvaluation } from '../../wasm/instance.js';
import type { InstanceAnswer, InstanceImage, InstanceTask, PackedState } from '../../worker/instance-protocol.js';
import type { InstanceLanes } from '../../worker/instance-lanes.js';
import { isTerminal } from '../job.js';
import type { Job } from '../job.js';
import type { LimitSettings } from '../limits.js';
import type { ModuleStore } from '../module-store.js';
import { planInstanceCall } from './calls.js';
import { LaneScheduler } from './lanes.js';
import type { Work } from './lanes.js';
import { checkpoint, journal } from './record.js';
import type { AdmittedCall, InstanceJobHooks, InstanceRecord, InstanceSettings } from './record.js';
import { Residency } from './residency.js';
import { snapshotOf } from './snapshot.js';
import { InstanceVariants } from './variants.js';
import { prepareInstance } from './creation.js';

export type { AdmittedCall, InstanceJobHooks, InstanceRecord, InstanceSettings } from './record.js';

export interface InstanceManagerOptions {
  lanes: InstanceLanes;
  modules: ModuleStore;
  limits: LimitSettings;
  settings: InstanceSettings;
  outputLimit: number;
  /** Jobs that may wait across all instances; beyond it runs are refused with WASM64_QUEUE_FULL. */
  maxQueue: number;
  /** How long initialisation (or a restore) at creation may run. */
  defaultTimeoutMs: number;
  logger: Logger;
  now: () => number;
  hooks: InstanceJobHooks;
}

/** The fields of a run that belong to the instance (fixed at its creation), not to one of its jobs. */
const INSTANCE_FIELDS = ['module', 'wat', 'module_id', 'wasi', 'memory_limit', 'fuel'] as const;

export class InstanceManager {
  readonly #o: InstanceManagerOptions;
  readonly #instances = new Map<string, InstanceRecord>();
  readonly #lanes: LaneScheduler;
  readonly #residency: Residency;
  readonly #variants: InstanceVariants;
  #accepting = true;
  readonly stats = { evictions: 0, restores: 0, checkpoints: 0 };

  constructor(options: InstanceManagerOptions) {
    this.#o = options;
    this.#lanes = new LaneScheduler(
      options.lanes,
      {
        taskOf: (work) => this.#taskOf(work),
        started: (job) => options.hooks.started(job),
        timedOut: (job) => options.hooks.ended(job, 'failed', 'WASM64_TIMEOUT', `the job ran longer than its timeout_ms of ${job.timeoutMs}`),
        answered: (_lane, work, answer) => this.#answered(work, answer),
        failed: (lane, work, err, timedOut) => this.#failed(lane, work, err, timedOut),
      },
      options.defaultTimeoutMs,
      (err: unknown) => options.logger.error({ err }, 'recording an instance task failed'),
    );
    this.#residency = new Residency(this.#instances, this.#lanes, options.settings, options.logger);
    this.#variants = new InstanceVariants(options.modules);
  }

  get(id: string): InstanceRecord | undefined {
    return this.#instances.get(id);
  }

  list(): InstanceRecord[] {
    return [...this.#instances.values()];
  }

  /** Instances resident on a lane, and their bytes of memory. */
  residency(): { live: number; bytes: number } {
    return this.#residency.now();
  }

  /** Jobs of instances waiting for their lane. */
  get queued(): number {
    return this.#lanes.queued;
  }

  /** Jobs of instances on a lane's thread now. */
  get running(): number {
    return this.#lanes.running;
  }

  /**
   * POST /instances: resolves the module (or the snapshot's), builds the instance on the least loaded lane,
   * runs its initialisation (or restores the snapshot), and keeps that state as its first checkpoint.
   * Throws ServiceError for what the request gets wrong, WASM64_INSTANCE_INIT when initialisation fails.
   */
  async create(body: InstanceCreate): Promise<{ instance: InstanceRecord; init?: CallEvaluation }> {
    this.#checkAccepting();
    this.#checkRoom();
    const { snapshot } = body;
    const { module, variant, setup, memoryLimit, init, state } = await prepareInstance(body, this.#o, this.#variants);
    // The awaits above let other creations in.
    this.#checkAccepting();
    this.#checkRoom();
    const now = this.#o.now();
    const instance: InstanceRecord = {
      id: randomUUID(),
      module,
      variant,
      setup,
      memoryLimit,
      init,
      lane: this.#leastLoadedLane(),
      createdAt: now,
      lastUsedAt: now,
      live: false,
      evicting: false,
      checkpointing: false,
      memoryBytes: 0,
      messages: 0,
      checkpoint: state,
      journal: [],
      journalBytes: 0,
      pending: 0,
    };
    this.#instances.set(instance.id, instance);
    const image: InstanceImage = { module: variant.module, setup, from: snapshot === undefined ? { init } : { state: instance.checkpoint, replay: [] } };
    let answer: InstanceAnswer;
    try {
      answer = await new Promise<InstanceAnswer>((resolve, reject) => {
        this.#lanes.push(instance.lane, { kind: 'open', instance, image, done: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
      });
    } catch (err) {
      this.#instances.delete(instance.id);
      if (err instanceof ServiceError) throw err;
      throw new ServiceError('WASM64_INSTANCE_INIT', `building the instance failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (answer.openError !== undefined || answer.evaluation?.ok === false || answer.state === undefined) {
      this.#instances.delete(instance.id);
      if (answer.openError !== undefined) throw new ServiceError('WASM64_INSTANCE_SNAPSHOT', answer.openError);
      const failed = answer.evaluation;
      throw new ServiceError('WASM64_INSTANCE_INIT', failed?.ok === false ? `${init ?? 'instantiation'} failed: ${failed.code}: ${failed.message}` : 'the instance did not start');
    }
    instance.live = answer.live;
    instance.memoryBytes = answer.memoryBytes;
    instance.messages = answer.messages;
    instance.checkpoint = answer.state;
    this.#residency.enforceBounds();
    return answer.evaluation === undefined ? { instance } : { instance, init: answer.evaluation };
  }

  /** The snapshot format of a state of `instance`. */
  view(instance: InstanceRecord, state: PackedState): SnapshotView {
    return snapshotOf(instance, state);
  }

  /**
   * Resolves a run with `instance_id` against its instance. Throws ServiceError: WASM64_INSTANCE_NOT_FOUND,
   * WASM64_INSTANCE_CONFLICT for fields fixed at creation, WASM64_INSTANCE_HANDLE for a message to a module
   * that does not speak the convention, the call errors of a plain run, WASM64_QUEUE_FULL.
   */
  admit(request: RunInput): AdmittedCall {
    this.#checkAccepting();
    const id = request.instance_id ?? '';
    const instance = this.#instances.get(id);
    if (instance === undefined) throw new ServiceError('WASM64_INSTANCE_NOT_FOUND', `no instance has the id "${id}"`);
    const fixed = INSTANCE_FIELDS.find((f) => request[f] !== undefined);
    if (fixed !== undefined) throw new ServiceError('WASM64_INSTANCE_CONFLICT', `"${fixed}" is fixed when the instance is created; a job with instance_id sends only its call`);
    if (this.#lanes.queued >= this.#o.maxQueue) {
      throw new ServiceError('WASM64_QUEUE_FULL', `${this.#lanes.queued} instance jobs are already waiting; retry shortly`, { 'retry-after': '1' });
    }
    return { instance, ...planInstanceCall(request, instance.module, this.#o.outputLimit) };
  }

  /** Queues an admitted job behind its instance's earlier jobs (and every job of its lane). */
  enqueue(job: Job, admitted: AdmittedCall): void {
    admitted.instance.pending++;
    admitted.instance.lastUsedAt = this.#o.now();
    this.#lanes.push(admitted.instance.lane, { kind: 'job', job, instance: admitted.instance, call: admitted.call });
  }

  /** Whether `job` is one of an instance's jobs still waiting or running here. */
  holds(job: Job): boolean {
    return this.#lanes.holds(job);
  }

  /**
   * Takes `job` (already settled by the device: cancelled, shut down) off its lane: out of the queue, or,
   * when it runs, by aborting its task, which terminates the lane's thread. Every instance of that lane is
   * then rebuilt from its checkpoint and journal on its next job; the stopped job's call is not in the journal.
   */
  withdraw(job: Job): void {
    const withdrawn = this.#lanes.withdraw(job, job.error?.code ?? 'WASM64_CANCELLED');
    if (withdrawn === 'queued' && job.instanceId !== undefined) this.#release(this.#instances.get(job.instanceId));
  }

  /**
   * GET /instances/:id/snapshot: the state after every job queued before this request, taken on the
   * instance's lane. It becomes the instance's checkpoint (its journal is cleared up to it).
   */
  async snapshot(id: string): Promise<{ instance: InstanceRecord; state: PackedState }> {
    const instance = this.#instances.get(id);
    if (instance === undefined) throw new ServiceError('WASM64_INSTANCE_NOT_FOUND', `no instance has the id "${id}"`);
    if (!instance.live && instance.journal.length === 0 && instance.pending === 0) return { instance, state: instance.checkpoint };
    const state = await new Promise<PackedState>((resolve, reject) => {
      this.#lanes.push(instance.lane, { kind: 'snapshot', instance, drop: false, done: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
    });
    return { instance, state };
  }

  /** DELETE /instances/:id: its waiting jobs end cancelled, a running one is stopped, its memory freed. */
  delete(id: string): InstanceRecord {
    const instance = this.#instances.get(id);
    if (instance === undefined) throw new ServiceError('WASM64_INSTANCE_NOT_FOUND', `no instance has the id "${id}"`);
    this.#instances.delete(id);
    const reason = 'the instance was deleted';
    const { queued, busy } = this.#lanes.remove(instance);
    for (const work of queued) {
      if (work.kind === 'job') this.#o.hooks.ended(work.job, 'cancelled', 'WASM64_CANCELLED', reason);
      else if (work.kind !== 'drop') work.done(new ServiceError('WASM64_INSTANCE_NOT_FOUND', reason));
    }
    if (busy !== undefined) {
      if (busy.kind === 'job') this.#o.hooks.ended(busy.job, 'cancelled', 'WASM64_CANCELLED', reason);
      this.#lanes.abort(instance.lane, 'WASM64_CANCELLED');
    } else if (instance.live) {
      this.#lanes.push(instance.lane, { kind: 'drop', instanceId: id });
    }
    instance.live = false;
    return instance;
  }

  /**
   * Stops admitting; jobs still waiting end cancelled (WASM64_SHUTDOWN); running ones get `graceMs`, then end
   * the same way; then the lanes' threads are destroyed.
   */
  async close(graceMs: number): Promise<void> {
    this.#accepting = false;
    const reason = 'the service shut down before the job finished';
    for (const work of this.#lanes.drain()) {
      if (work.kind === 'job') this.#o.hooks.ended(work.job, 'cancelled', 'WASM64_SHUTDOWN', reason);
      else if (work.kind !== 'drop') work.done(new ServiceError('WASM64_SHUTTING_DOWN', 'the service is shutting down'));
    }
    await this.#lanes.idle(graceMs);
    for (const work of this.#lanes.busy()) {
      if (work.kind === 'job') this.#o.hooks.ended(work.job, 'cancelled', 'WASM64_SHUTDOWN', reason);
    }
    await this.#lanes.destroy('WASM64_SHUTDOWN');
  }

  #checkAccepting(): void {
    if (!this.#accepting) throw new ServiceError('WASM64_SHUTTING_DOWN', 'the service is shutting down; retry on another instance or after it restarts');
  }

  #checkRoom(): void {
    if (this.#instances.size >= this.#o.settings.maxInstances) {
      throw new ServiceError('WASM64_INSTANCE_LIMIT', `the service holds ${this.#instances.size} instances (MAX_INSTANCES); delete one first`);
    }
  }

  #leastLoadedLane(): number {
    const counts = Array.from({ length: this.#lanes.count }, () => 0);
    for (const r of this.#instances.values()) counts[r.lane] = (counts[r.lane] ?? 0) + 1;
    return counts.indexOf(Math.min(...counts));
  }

  #release(instance: InstanceRecord | undefined): void {
    if (instance === undefined) return;
    instance.pending--;
    instance.lastUsedAt = this.#o.now();
  }

  /** How the lane's thread rebuilds `instance`: its checkpoint, then the journal since. */
  #image(instance: InstanceRecord): InstanceImage {
    this.stats.restores++;
    return { module: instance.variant.module, setup: instance.setup, from: { state: instance.checkpoint, replay: instance.journal } };
  }

  /** The task for `work`, or undefined when there is nothing to do. */
  #taskOf(work: Work): InstanceTask | undefined {
    switch (work.kind) {
      case 'job': {
        const { job, instance } = work;
        if (isTerminal(job)) {
          this.#release(instance);
          return undefined;
        }
        const task: InstanceTask = { kind: 'call', instanceId: instance.id, call: work.call };
        if (!instance.live) task.image = this.#image(instance);
        return task;
      }
      case 'open':
        return { kind: 'open', instanceId: work.instance.id, image: work.image };
      case 'snapshot': {
        const { instance } = work;
        if (!instance.live && (work.drop || instance.journal.length === 0)) {
          work.done(instance.checkpoint);
          return undefined;
        }
        const task: InstanceTask = { kind: 'snapshot', instanceId: instance.id, drop: work.drop };
        if (!instance.live) task.image = this.#image(instance);
        return task;
      }
      case 'drop':
        return { kind: 'drop', instanceId: work.instanceId };
    }
  }

  #answered(work: Work, answer: InstanceAnswer): void {
    if (work.kind === 'drop') return;
    const { instance } = work;
    if (answer.missing === true) {
      // The thread lost it without the device seeing why (a replaced thread): send it again, with its image.
      instance.live = false;
      this.#lanes.retry(instance.lane, work);
      return;
    }
    if (work.kind === 'open') {
      work.done(answer);
      return;
    }
    instance.live = answer.live;
    if (answer.live) {
      instance.memoryBytes = answer.memoryBytes;
      instance.messages = answer.messages;
    }
    if (answer.openError !== undefined) {
      this.#o.logger.error({ instance: instance.id, reason: answer.openError }, 'an instance could not be rebuilt from its last good state');
      if (work.kind === 'job') {
        this.#release(instance);
        this.#o.hooks.ended(work.job, 'failed', 'WASM64_INSTANCE_LOST', answer.openError);
      } else {
        work.done(new ServiceError('WASM64_INSTANCE_LOST', answer.openError));
      }
      return;
    }
    if (work.kind === 'snapshot') {
      if (answer.state !== undefined) {
        checkpoint(instance, answer.state);
        this.stats.checkpoints++;
      }
      if (work.drop) this.stats.evictions++;
      work.done(answer.state ?? instance.checkpoint);
      return;
    }
    this.#release(instance);
    const evaluation = answer.evaluation;
    if (evaluation === undefined) return;
    if (evaluation.ok || evaluation.kept === true) journal(instance, answer.messages - 1, work.call);
    this.#o.hooks.finished(work.job, evaluation, answer.durationMs);
    this.#residency.maybeCheckpoint(instance);
    this.#residency.enforceBounds();
  }

  /** Piscina rejected the task: aborted by us (a timeout, a cancel, a delete, shutdown), or its thread died. */
  #failed(lane: number, work: Work, err: unknown, timedOut: boolean): void {
    // Either way the lane's thread is gone, and with it every instance it held.
    for (const r of this.#instances.values()) if (r.lane === lane) r.live = false;
    const message = err instanceof Error ? err.message : String(err);
    if (work.kind === 'job') {
      this.#release(work.instance);
      if (!isTerminal(work.job)) {
        this.#o.logger.error({ job: work.job.id, err }, 'job failed: the lane thread running it failed');
        this.#o.hooks.ended(work.job, 'failed', 'WASM64_WORKER_FAILED', message);
      }
    } else if (work.kind === 'open') {
      work.done(new ServiceError('WASM64_INSTANCE_INIT', timedOut ? `${work.instance.init ?? 'the restore'} ran longer than DEFAULT_TIMEOUT_MS (${this.#o.defaultTimeoutMs} ms)` : message));
    } else if (work.kind === 'snapshot') {
      work.done(err instanceof Error ? err : new Error(message));
    }
  }
}

