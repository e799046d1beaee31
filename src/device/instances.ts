// AO processes: live instances pinned to lanes, their jobs run in order, their last good state kept so that a
// trap, a timeout or an eviction never loses or half-writes them.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { ServiceError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { RunRequest } from '../schemas/job.js';
import type { InstanceCreate, SnapshotView } from '../schemas/instance.js';
import type { CallEvaluation, InstanceCall, InstanceSetup } from '../wasm/instance.js';
import { memoryHash } from '../wasm/instance-state.js';
import { addressType, allocatorProblem, DEFAULT_ALLOCATOR, exportedMemory } from '../wasm/memory-io.js';
import { createWasi, WasiOptionsError } from '../wasm/wasi/preview1.js';
import type { InstanceAnswer, InstanceImage, InstanceTask, JournalEntry, PackedState } from '../worker/instance-protocol.js';
import type { InstanceLanes } from '../worker/instance-lanes.js';
import { planParameters, WASI_PROGRAM_NAME } from './call-plan.js';
import type { ParameterEcho } from './call-plan.js';
import { resolveCall } from './device.js';
import { isTerminal } from './job.js';
import type { Job } from './job.js';
import { resolveLimits } from './limits.js';
import type { LimitSettings } from './limits.js';
import { moduleSource } from './module-source.js';
import type { CompiledVariant, ModuleStore, ResolvedModule, StoredModule, VariantLimits } from './module-store.js';
import { ModuleFormatError } from '../wasm/binary-reader.js';
import { exportMutableGlobals } from '../wasm/export-globals.js';
import { UnsupportedInstructionError } from '../wasm/instructions.js';
import { instrumentModule, MemoryCapError } from '../wasm/instrument.js';
import type { Instrumentation } from '../wasm/instrument.js';
import { IdleSignal } from './idle.js';

/** MAX_INSTANCES, MAX_LIVE_INSTANCES, MAX_LIVE_INSTANCE_BYTES, INSTANCE_CHECKPOINT_MESSAGES. */
export interface InstanceSettings {
  /** Instances kept, resident or evicted to a snapshot. */
  maxInstances: number;
  /** Instances resident on lanes; beyond it the least recently used idle one is evicted. */
  maxLive: number;
  /** Bytes of memory of resident instances; beyond it, the same. */
  maxLiveBytes: number;
  /** Calls journalled since the last checkpoint before a new checkpoint is taken. */
  checkpointMessages: number;
}

export function instanceSettings(config: Config): InstanceSettings {
  return {
    maxInstances: config.instanceMax,
    maxLive: config.instanceLiveMax,
    maxLiveBytes: config.instanceLiveMaxBytes,
    checkpointMessages: config.instanceCheckpointMessages,
  };
}

/** Rewritten module variants kept for instances. */
const MAX_INSTANCE_VARIANTS = 64;

/** Journal bytes (string and bytes parameters) beyond which a checkpoint is taken whatever the count. */
const CHECKPOINT_JOURNAL_BYTES = 16 * 1024 * 1024;

/** How the manager tells the device about a job's life: the device owns jobs, their store and their waiters. */
export interface InstanceJobHooks {
  /** The job got its lane's thread. */
  started(job: Job): void;
  /** The job's call ran: it completed, or failed inside the module. */
  finished(job: Job, evaluation: CallEvaluation, durationMs: number): void;
  /** The job ends without an evaluation: timed out, its thread died, its instance was lost or deleted. */
  ended(job: Job, status: 'failed' | 'cancelled', code: ErrorCode, message: string): void;
}

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

export interface InstanceRecord {
  id: string;
  module: StoredModule;
  variant: CompiledVariant;
  setup: InstanceSetup;
  memoryLimit: number;
  init: string | null;
  lane: number;
  createdAt: number;
  lastUsedAt: number;
  /** The device believes its lane's thread holds it. */
  live: boolean;
  evicting: boolean;
  checkpointing: boolean;
  memoryBytes: number;
  messages: number;
  /** The last good state kept here: with the journal, what rebuilds the instance. */
  checkpoint: PackedState;
  /** Calls completed since the checkpoint, in order. */
  journal: JournalEntry[];
  journalBytes: number;
  /** Its jobs waiting or running. */
  pending: number;
}

/** A job's call resolved against its instance. */
export interface AdmittedCall {
  instance: InstanceRecord;
  function: string;
  call: InstanceCall;
  echo: ParameterEcho[];
}

type Done<T> = (result: T | Error) => void;

type Work =
  | { kind: 'job'; job: Job; instance: InstanceRecord; call: InstanceCall }
  | { kind: 'open'; instance: InstanceRecord; image: InstanceImage; done: Done<InstanceAnswer> }
  | { kind: 'snapshot'; instance: InstanceRecord; drop: boolean; done: Done<PackedState> }
  | { kind: 'drop'; instanceId: string };

interface Lane {
  index: number;
  queue: Work[];
  busy: { work: Work; controller: AbortController; timer: NodeJS.Timeout | undefined } | undefined;
}

/** The fields of a run that belong to the instance (fixed at its creation), not to one of its jobs. */
const INSTANCE_FIELDS = ['module', 'wat', 'module_id', 'wasi', 'memory_limit', 'fuel'] as const;
const SNAPSHOT_FIXES = ['wasi', 'init', 'memory_limit', 'fuel'] as const;

function callBytes(call: InstanceCall): number {
  return 64 + (call.placements ?? []).reduce((n, p) => n + p.data.length, 0);
}

export class InstanceManager {
  readonly #o: InstanceManagerOptions;
  readonly #instances = new Map<string, InstanceRecord>();
  readonly #lanes: Lane[];
  /** Rewritten modules (unexported mutable globals exported), by module id and limits. */
  readonly #variants = new Map<string, CompiledVariant>();
  #queued = 0;
  #accepting = true;
  readonly #idle = new IdleSignal();
  readonly stats = { evictions: 0, restores: 0, checkpoints: 0 };

  constructor(options: InstanceManagerOptions) {
    this.#o = options;
    this.#lanes = Array.from({ length: options.lanes.count }, (_, index) => ({ index, queue: [], busy: undefined }));
  }

  get(id: string): InstanceRecord | undefined {
    return this.#instances.get(id);
  }

  list(): InstanceRecord[] {
    return [...this.#instances.values()];
  }

  /** Instances resident on a lane, and their bytes of memory. */
  residency(): { live: number; bytes: number } {
    let live = 0;
    let bytes = 0;
    for (const r of this.#instances.values()) {
      if (!r.live || r.evicting) continue;
      live++;
      bytes += r.memoryBytes;
    }
    return { live, bytes };
  }

  /** Jobs of instances waiting for their lane. */
  get queued(): number {
    return this.#queued;
  }

  /** Jobs of instances on a lane's thread now. */
  get running(): number {
    return this.#lanes.filter((l) => l.busy?.work.kind === 'job').length;
  }

  /**
   * POST /instances: resolves the module (or the snapshot's), builds the instance on the least loaded lane,
   * runs its initialisation (or restores the snapshot), and keeps that state as its first checkpoint.
   * Throws ServiceError for what the request gets wrong, WASM64_INSTANCE_INIT when initialisation fails.
   */
  async create(body: InstanceCreate): Promise<{ instance: InstanceRecord; init?: CallEvaluation }> {
    this.#checkAccepting();
    this.#checkRoom();
    const snapshot = body.snapshot;
    if (snapshot !== undefined) {
      const fixed = SNAPSHOT_FIXES.find((f) => body[f] !== undefined);
      if (fixed !== undefined) throw new ServiceError('WASM64_INSTANCE_CONFLICT', `"${fixed}" comes from the snapshot; send the snapshot alone (with its module, if it is not stored)`);
    }
    const resolved = await this.#resolveModule(body);
    const options = snapshot === undefined ? body : { memory_limit: snapshot.memory_limit, fuel: snapshot.fuel ?? undefined };
    const limits = resolveLimits({ memory_limit: options.memory_limit, fuel: options.fuel }, this.#o.limits, resolved.module);
    const variant = await this.#variantFor(resolved, { memoryCapPages: limits.memoryCapPages, fuel: limits.fuel !== null });
    const module = resolved.module;
    const wasi = snapshot?.wasi ?? {
      args: [WASI_PROGRAM_NAME, ...(body.wasi?.args ?? [])],
      env: body.wasi?.env ?? {},
      deterministic: body.wasi?.deterministic ?? true,
      seed: body.wasi?.seed ?? 0,
    };
    try {
      createWasi({ ...wasi, stdin: new Uint8Array(0), outputLimit: 0 });
    } catch (err) {
      if (err instanceof WasiOptionsError) throw new ServiceError('WASM64_WASI_OPTIONS', err.message);
      throw err;
    }
    const memory = exportedMemory(module.info);
    const setup: InstanceSetup = {
      ...wasi,
      addressType: addressType(module.info),
      instrumentation: variant.instrumentation,
      fuel: limits.fuel,
      outputLimit: this.#o.outputLimit,
      ...(memory === undefined ? {} : { memory }),
    };
    const init = snapshot === undefined ? this.#initOf(body, module) : null;
    // The awaits above let other creations in.
    this.#checkAccepting();
    this.#checkRoom();
    const now = this.#o.now();
    const instance: InstanceRecord = {
      id: randomUUID(),
      module,
      variant,
      setup,
      memoryLimit: limits.memoryLimit,
      init,
      lane: this.#leastLoadedLane(),
      createdAt: now,
      lastUsedAt: now,
      live: false,
      evicting: false,
      checkpointing: false,
      memoryBytes: 0,
      messages: 0,
      checkpoint: snapshot === undefined ? { memory: null, memoryBytes: 0, hash: memoryHash(null), globals: [], messages: 0 } : this.#unview(snapshot),
      journal: [],
      journalBytes: 0,
      pending: 0,
    };
    this.#instances.set(instance.id, instance);
    const image: InstanceImage = { module: variant.module, setup, from: snapshot === undefined ? { init } : { state: instance.checkpoint, replay: [] } };
    let answer: InstanceAnswer;
    try {
      answer = await new Promise<InstanceAnswer>((resolve, reject) => {
        this.#push(instance.lane, { kind: 'open', instance, image, done: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
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
    this.#enforceBounds();
    return answer.evaluation === undefined ? { instance } : { instance, init: answer.evaluation };
  }

  /**
   * What an instance runs: the module compiled for its limits, with its unexported mutable globals exported
   * (so that snapshots carry them). Modules that have none share the module store's variants; the others are
   * rewritten and compiled here, once per module and limits.
   */
  async #variantFor(resolved: ResolvedModule, limits: VariantLimits): Promise<CompiledVariant> {
    const { module } = resolved;
    const key = `${module.id}:${limits.memoryCapPages}:${limits.fuel ? 'fuel' : ''}`;
    const cached = this.#variants.get(key);
    if (cached !== undefined) return cached;
    let rewritten: { bytes: Uint8Array; instrumentation: Instrumentation | null };
    try {
      const exported = exportMutableGlobals(module.bytes);
      if (exported.added.length === 0) return await this.#o.modules.compiledFor(resolved, limits);
      rewritten = instrumentModule(exported.bytes, { memoryCapPages: module.info.memory === null ? null : limits.memoryCapPages, fuel: limits.fuel });
    } catch (err) {
      if (err instanceof UnsupportedInstructionError || err instanceof ModuleFormatError) {
        throw new ServiceError('WASM64_UNSUPPORTED_INSTRUCTION', `the module cannot be prepared for an instance: ${err.message}`);
      }
      if (err instanceof MemoryCapError) throw new ServiceError('WASM64_MEMORY_TOO_LARGE', err.message);
      throw err;
    }
    const variant = { module: await WebAssembly.compile(rewritten.bytes), instrumentation: rewritten.instrumentation, reuse: null };
    module.stats.compiles++;
    this.#variants.set(key, variant);
    // A few variants are enough: instances of one module usually share their limits.
    if (this.#variants.size > MAX_INSTANCE_VARIANTS) this.#variants.delete(this.#variants.keys().next().value ?? key);
    return variant;
  }

  /** The module a creation names: a snapshot's must be stored or sent beside it, and be the one it was taken of. */
  async #resolveModule(body: InstanceCreate): Promise<ResolvedModule> {
    const named = body.module !== undefined || body.wat !== undefined || body.module_id !== undefined;
    if (body.snapshot === undefined || named) {
      const resolved = await this.#o.modules.resolve(await moduleSource(body, undefined, this.#o.modules.maxModuleBytes));
      if (body.snapshot !== undefined && resolved.module.id !== body.snapshot.module_id.replace(/^(?!sha256:)/, 'sha256:').toLowerCase()) {
        throw new ServiceError('WASM64_INSTANCE_SNAPSHOT', `the snapshot was taken of ${body.snapshot.module_id}, not of the module sent (${resolved.module.id})`);
      }
      return resolved;
    }
    return this.#o.modules.resolve({ kind: 'id', id: body.snapshot.module_id.replace(/^(?!sha256:)/, 'sha256:').toLowerCase() });
  }

  #initOf(body: InstanceCreate, module: StoredModule): string | null {
    const init = body.init ?? (module.exportsByName.has('_initialize') ? '_initialize' : 'none');
    if (init === 'none') return null;
    if (!module.exportsByName.has(init)) throw new ServiceError('WASM64_UNKNOWN_FUNCTION', `"init": "${init}", but the module exports no ${init}`);
    return init;
  }

  #unview(snapshot: SnapshotView): PackedState {
    let memory: Uint8Array | null = null;
    if (snapshot.memory !== null) {
      if (snapshot.memory.length % 4 === 1 || !/^[A-Za-z0-9+/]*={0,2}$/.test(snapshot.memory)) throw new ServiceError('WASM64_INSTANCE_SNAPSHOT', '"memory" is not base64');
      memory = new Uint8Array(Buffer.from(snapshot.memory, 'base64'));
    }
    const limit = this.#o.limits.memoryLimitMax;
    if (snapshot.memory_bytes > limit) throw new ServiceError('WASM64_INSTANCE_SNAPSHOT', `the snapshot's memory (${snapshot.memory_bytes} bytes) is above MAX_MEMORY_LIMIT (${limit})`);
    return { memory, memoryBytes: snapshot.memory_bytes, hash: snapshot.hash, globals: snapshot.globals, messages: snapshot.messages };
  }

  /** The snapshot format of a state of `instance`. */
  view(instance: InstanceRecord, state: PackedState): SnapshotView {
    return {
      format: 'wasm64-instance-snapshot/1',
      module_id: instance.module.id,
      memory_bytes: state.memoryBytes,
      hash: state.hash,
      compression: 'deflate',
      memory: state.memory === null ? null : Buffer.from(state.memory.buffer, state.memory.byteOffset, state.memory.byteLength).toString('base64'),
      globals: state.globals,
      messages: state.messages,
      wasi: { args: instance.setup.args, env: instance.setup.env, deterministic: instance.setup.deterministic, seed: instance.setup.seed },
      memory_limit: instance.memoryLimit,
      fuel: instance.setup.fuel,
    };
  }

  /**
   * Resolves a run with `instance_id` against its instance. Throws ServiceError: WASM64_INSTANCE_NOT_FOUND,
   * WASM64_INSTANCE_CONFLICT for fields fixed at creation, WASM64_INSTANCE_HANDLE for a message to a module
   * that does not speak the convention, the call errors of a plain run, WASM64_QUEUE_FULL.
   */
  admit(request: RunRequest): AdmittedCall {
    this.#checkAccepting();
    const id = request.instance_id ?? '';
    const instance = this.#instances.get(id);
    if (instance === undefined) throw new ServiceError('WASM64_INSTANCE_NOT_FOUND', `no instance has the id "${id}"`);
    const fixed = INSTANCE_FIELDS.find((f) => request[f] !== undefined);
    if (fixed !== undefined) throw new ServiceError('WASM64_INSTANCE_CONFLICT', `"${fixed}" is fixed when the instance is created; a job with instance_id sends only its call`);
    if (this.#queued >= this.#o.maxQueue) {
      throw new ServiceError('WASM64_QUEUE_FULL', `${this.#queued} instance jobs are already waiting; retry shortly`, { 'retry-after': '1' });
    }
    const { info } = instance.module;
    if (request.message !== undefined || request.env !== undefined) {
      if (request.code !== undefined || request.function !== undefined || request.parameters !== undefined || request.returns !== undefined) {
        throw new ServiceError('WASM64_CALL_CONFLICT', 'send either "message" (and "env") or a call ("code", or "function" with "parameters"), not both');
      }
      if (request.message === undefined) throw new ServiceError('WASM64_BAD_REQUEST', '"env" goes with a "message"');
      const address = addressType(info);
      const handle = instance.module.exportsByName.get('handle');
      const allocator = request.allocator ?? DEFAULT_ALLOCATOR;
      const problem = handle === undefined
        ? 'the module exports no "handle"'
        : handle.params.length !== 2 || handle.params.some((p) => p !== address) || handle.results.length !== 1 || handle.results[0] !== address
          ? `"handle" must be (${address}, ${address}) -> ${address}; it is (${handle.params.join(', ')}) -> (${handle.results.join(', ')})`
          : allocatorProblem(info, allocator);
      if (problem !== undefined || handle === undefined) throw new ServiceError('WASM64_INSTANCE_HANDLE', problem ?? 'the module exports no "handle"');
      const planned = planParameters(handle, [{ string: JSON.stringify(request.message) }, { string: JSON.stringify(request.env ?? {}) }], info, allocator);
      const call: InstanceCall = { function: 'handle', parameters: planned.parameters, placements: planned.placements, allocator, returns: { type: 'string' }, json: true };
      return { instance, function: 'handle', call, echo: planned.echo };
    }
    if (request.code === undefined && request.function === undefined) throw new ServiceError('WASM64_MISSING_FUNCTION', 'send "message", or a call: "code", or "function" with "parameters"');
    const resolved = resolveCall(request, instance.module, this.#o.outputLimit);
    const call: InstanceCall = { function: resolved.fn.name, parameters: resolved.parameters };
    if (resolved.call.placements !== undefined) call.placements = resolved.call.placements;
    if (resolved.call.allocator !== undefined) call.allocator = resolved.call.allocator;
    if (resolved.call.returns !== undefined) call.returns = resolved.call.returns;
    return { instance, function: resolved.fn.name, call, echo: resolved.echo };
  }

  /** Queues an admitted job behind its instance's earlier jobs (and every job of its lane). */
  enqueue(job: Job, admitted: AdmittedCall): void {
    admitted.instance.pending++;
    admitted.instance.lastUsedAt = this.#o.now();
    this.#queued++;
    this.#push(admitted.instance.lane, { kind: 'job', job, instance: admitted.instance, call: admitted.call });
  }

  /** Whether `job` is one of an instance's jobs still waiting or running here. */
  holds(job: Job): boolean {
    return this.#lanes.some((l) => (l.busy?.work.kind === 'job' && l.busy.work.job === job) || l.queue.some((w) => w.kind === 'job' && w.job === job));
  }

  /**
   * Takes `job` (already settled by the device: cancelled, shut down) off its lane: out of the queue, or,
   * when it runs, by aborting its task, which terminates the lane's thread. Every instance of that lane is
   * then rebuilt from its checkpoint and journal on its next job; the stopped job's call is not in the journal.
   */
  withdraw(job: Job): void {
    for (const lane of this.#lanes) {
      const at = lane.queue.findIndex((w) => w.kind === 'job' && w.job === job);
      if (at >= 0) {
        lane.queue.splice(at, 1);
        this.#queued--;
        if (job.instanceId !== undefined) this.#release(this.#instances.get(job.instanceId));
        return;
      }
      if (lane.busy?.work.kind === 'job' && lane.busy.work.job === job) {
        lane.busy.controller.abort(job.error?.code ?? 'WASM64_CANCELLED');
        return;
      }
    }
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
      this.#push(instance.lane, { kind: 'snapshot', instance, drop: false, done: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
    });
    return { instance, state };
  }

  /** DELETE /instances/:id: its waiting jobs end cancelled, a running one is stopped, its memory freed. */
  delete(id: string): InstanceRecord {
    const instance = this.#instances.get(id);
    if (instance === undefined) throw new ServiceError('WASM64_INSTANCE_NOT_FOUND', `no instance has the id "${id}"`);
    this.#instances.delete(id);
    const lane = this.#lanes[instance.lane]!;
    const reason = 'the instance was deleted';
    for (const work of lane.queue.filter((w) => 'instance' in w && w.instance === instance)) {
      lane.queue.splice(lane.queue.indexOf(work), 1);
      if (work.kind === 'job') {
        this.#queued--;
        this.#o.hooks.ended(work.job, 'cancelled', 'WASM64_CANCELLED', reason);
      } else if (work.kind !== 'drop') {
        work.done(new ServiceError('WASM64_INSTANCE_NOT_FOUND', reason));
      }
    }
    const busy = lane.busy?.work;
    if (busy !== undefined && 'instance' in busy && busy.instance === instance) {
      if (busy.kind === 'job') this.#o.hooks.ended(busy.job, 'cancelled', 'WASM64_CANCELLED', reason);
      lane.busy?.controller.abort('WASM64_CANCELLED');
    } else if (instance.live) {
      this.#push(instance.lane, { kind: 'drop', instanceId: id });
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
    for (const lane of this.#lanes) {
      for (const work of lane.queue.splice(0)) {
        if (work.kind === 'job') this.#o.hooks.ended(work.job, 'cancelled', 'WASM64_SHUTDOWN', reason);
        else if (work.kind !== 'drop') work.done(new ServiceError('WASM64_SHUTTING_DOWN', 'the service is shutting down'));
      }
    }
    this.#queued = 0;
    if (this.#lanes.some((l) => l.busy !== undefined) && graceMs > 0) {
      await this.#idle.wait(graceMs);
    }
    for (const lane of this.#lanes) {
      const work = lane.busy?.work;
      if (work?.kind === 'job') this.#o.hooks.ended(work.job, 'cancelled', 'WASM64_SHUTDOWN', reason);
      lane.busy?.controller.abort('WASM64_SHUTDOWN');
    }
    await this.#o.lanes.destroy();
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
    const counts = this.#lanes.map(() => 0);
    for (const r of this.#instances.values()) counts[r.lane] = (counts[r.lane] ?? 0) + 1;
    return counts.indexOf(Math.min(...counts));
  }

  #release(instance: InstanceRecord | undefined): void {
    if (instance === undefined) return;
    instance.pending--;
    instance.lastUsedAt = this.#o.now();
  }

  #push(laneIndex: number, work: Work): void {
    const lane = this.#lanes[laneIndex]!;
    lane.queue.push(work);
    this.#dispatch(lane);
  }

  /** How the lane's thread rebuilds `instance`: its checkpoint, then the journal since. */
  #image(instance: InstanceRecord): InstanceImage {
    this.stats.restores++;
    return { module: instance.variant.module, setup: instance.setup, from: { state: instance.checkpoint, replay: instance.journal } };
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
      const task = this.#taskOf(work);
      if (task === undefined) continue;
      const controller = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      if (work.kind === 'job') {
        this.#o.hooks.started(work.job);
        const { job } = work;
        timer = setTimeout(() => {
          this.#o.hooks.ended(job, 'failed', 'WASM64_TIMEOUT', `the job ran longer than its timeout_ms of ${job.timeoutMs}`);
          controller.abort('WASM64_TIMEOUT');
        }, job.timeoutMs);
      } else if (work.kind === 'open') {
        timer = setTimeout(() => controller.abort('WASM64_TIMEOUT'), this.#o.defaultTimeoutMs);
      }
      lane.busy = { work, controller, timer };
      this.#o.lanes
        .run(lane.index, task, controller.signal)
        .then(
          (answer) => this.#answered(lane, work, answer),
          (err: unknown) => this.#failed(lane, work, err),
        )
        .catch((err: unknown) => this.#o.logger.error({ err }, 'recording an instance task failed'))
        .finally(() => {
          clearTimeout(timer);
          lane.busy = undefined;
          this.#dispatch(lane);
        });
    }
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

  #answered(lane: Lane, work: Work, answer: InstanceAnswer): void {
    if (work.kind === 'drop') return;
    const { instance } = work;
    if (answer.missing === true) {
      // The thread lost it without the device seeing why (a replaced thread): send it again, with its image.
      instance.live = false;
      if (work.kind === 'job') this.#queued++;
      lane.queue.unshift(work);
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
      if (answer.state !== undefined) this.#checkpoint(instance, answer.state);
      if (work.drop) this.stats.evictions++;
      work.done(answer.state ?? instance.checkpoint);
      return;
    }
    this.#release(instance);
    const evaluation = answer.evaluation;
    if (evaluation === undefined) return;
    if (evaluation.ok || evaluation.kept === true) {
      instance.journal.push({ index: answer.messages - 1, call: work.call });
      instance.journalBytes += callBytes(work.call);
    }
    this.#o.hooks.finished(work.job, evaluation, answer.durationMs);
    this.#maybeCheckpoint(instance);
    this.#enforceBounds();
  }

  /** Piscina rejected the task: aborted by us (a timeout, a cancel, a delete, shutdown), or its thread died. */
  #failed(lane: Lane, work: Work, err: unknown): void {
    // Either way the lane's thread is gone, and with it every instance it held.
    for (const r of this.#instances.values()) if (r.lane === lane.index) r.live = false;
    const message = err instanceof Error ? err.message : String(err);
    if (work.kind === 'job') {
      this.#release(work.instance);
      if (!isTerminal(work.job)) {
        this.#o.logger.error({ job: work.job.id, err }, 'job failed: the lane thread running it failed');
        this.#o.hooks.ended(work.job, 'failed', 'WASM64_WORKER_FAILED', message);
      }
    } else if (work.kind === 'open') {
      const signal = lane.busy?.controller.signal;
      const timedOut = signal?.aborted === true && signal.reason === 'WASM64_TIMEOUT';
      work.done(new ServiceError('WASM64_INSTANCE_INIT', timedOut ? `${work.instance.init ?? 'the restore'} ran longer than DEFAULT_TIMEOUT_MS (${this.#o.defaultTimeoutMs} ms)` : message));
    } else if (work.kind === 'snapshot') {
      work.done(err instanceof Error ? err : new Error(message));
    }
  }

  #checkpoint(instance: InstanceRecord, state: PackedState): void {
    instance.checkpoint = state;
    instance.journal = instance.journal.filter((e) => e.index >= state.messages);
    instance.journalBytes = instance.journal.reduce((n, e) => n + callBytes(e.call), 0);
    this.stats.checkpoints++;
  }

  /** Bounds the journal (and so the time a rebuild takes): a new checkpoint every INSTANCE_CHECKPOINT_MESSAGES calls. */
  #maybeCheckpoint(instance: InstanceRecord): void {
    if (instance.checkpointing || !this.#instances.has(instance.id)) return;
    if (instance.journal.length < this.#o.settings.checkpointMessages && instance.journalBytes < CHECKPOINT_JOURNAL_BYTES) return;
    instance.checkpointing = true;
    this.#push(instance.lane, {
      kind: 'snapshot',
      instance,
      drop: false,
      done: (r) => {
        instance.checkpointing = false;
        if (r instanceof Error) this.#o.logger.warn({ instance: instance.id, err: r }, 'a checkpoint failed; the journal keeps growing until the next one');
      },
    });
  }

  /**
   * Keeps resident instances within MAX_LIVE_INSTANCES and MAX_LIVE_INSTANCE_BYTES by evicting the least
   * recently used idle ones to a snapshot (their checkpoint). Instances with jobs are never evicted, so the
   * bounds may be passed while every resident instance is busy; they are enforced again after each job.
   */
  #enforceBounds(): void {
    let { live, bytes } = this.residency();
    const { maxLive, maxLiveBytes } = this.#o.settings;
    if (live <= maxLive && bytes <= maxLiveBytes) return;
    const idle = [...this.#instances.values()].filter((r) => r.live && !r.evicting && r.pending === 0).sort((a, b) => a.lastUsedAt - b.lastUsedAt);
    for (const instance of idle) {
      if (live <= maxLive && bytes <= maxLiveBytes) return;
      instance.evicting = true;
      live--;
      bytes -= instance.memoryBytes;
      this.#push(instance.lane, {
        kind: 'snapshot',
        instance,
        drop: true,
        done: () => {
          instance.evicting = false;
        },
      });
    }
  }
}
