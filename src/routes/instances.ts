// The instance routes of the ~wasm64@1.0 device: create (or restore), list, describe, snapshot and delete AO processes.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ServiceError } from '../errors.js';
import type { InstanceManager, InstanceRecord } from '../device/instances/manager.js';
import { InstanceCreateSchema, InstanceListSchema, InstanceParamsSchema, InstanceSchema, SnapshotSchema } from '../schemas/instance.js';
import type { InstanceView } from '../schemas/instance.js';
import { ProblemSchema } from '../schemas/problem.js';
import type { CallEvaluation } from '../wasm/instance.js';
import { PREFIX } from './jobs.js';

const iso = (ms: number): string => new Date(ms).toISOString();

export function toInstanceView(instance: InstanceRecord, init?: CallEvaluation): InstanceView {
  const { setup } = instance;
  const view: InstanceView = {
    instance_id: instance.id,
    module_id: instance.module.id,
    resident: instance.live && !instance.evicting,
    lane: instance.lane,
    memory_bytes: instance.memoryBytes,
    memory_limit: instance.memoryLimit,
    fuel: setup.fuel,
    messages: instance.messages,
    queued: instance.pending,
    checkpoint: { messages: instance.checkpoint.messages, hash: instance.checkpoint.hash },
    wasi: { args: setup.args, env: setup.env, deterministic: setup.deterministic, seed: setup.seed },
    init: instance.init,
    created_at: iso(instance.createdAt),
    last_used_at: iso(instance.lastUsedAt),
  };
  if (init?.wasi !== undefined) {
    view.init_result = {
      stdout: init.wasi.stdout.value,
      stdout_base64: init.wasi.stdout.base64,
      stderr: init.wasi.stderr.value,
      stderr_base64: init.wasi.stderr.base64,
      ...(init.wasi.exitCode === undefined ? {} : { exit_code: init.wasi.exitCode }),
    };
  }
  return view;
}

export const instanceRoutes: FastifyPluginAsyncTypebox<{ instances: InstanceManager | undefined }> = async (app, { instances }) => {
  /** The manager, or WASM64_INSTANCES_UNAVAILABLE for a device without one (the Redis store mode). */
  const manager = (): InstanceManager => {
    if (instances === undefined) throw new ServiceError('WASM64_INSTANCES_UNAVAILABLE', 'instances live in one process\'s memory; this service runs a store mode without them');
    return instances;
  };

  /**
   * POST /instances — assumes a module (`module`, `wat`, `module_id`) or a `snapshot`. Produces 201 with the
   * instance, once it is initialised (or restored) on its lane. Changes: stores the module, adds the instance,
   * may evict the least recently used idle instance to a snapshot. Nothing on error.
   */
  app.post('/instances', {
    schema: {
      summary: 'Create a live instance (an AO process), or restore one from a snapshot',
      body: InstanceCreateSchema,
      response: { 201: InstanceSchema, '4xx': ProblemSchema, '5xx': ProblemSchema },
    },
  }, async (request, reply) => {
    const { instance, init } = await manager().create(request.body);
    request.log.info({ instance: instance.id, module: instance.module.id, restored: request.body.snapshot !== undefined }, 'instance created');
    return reply.code(201).header('location', `${PREFIX}/instances/${instance.id}`).send(toInstanceView(instance, init));
  });

  /** GET /instances — every instance, oldest first, with how many are resident and their memory. Changes nothing. */
  app.get('/instances', {
    schema: { summary: 'List instances', response: { 200: InstanceListSchema, '4xx': ProblemSchema, '5xx': ProblemSchema } },
  }, async () => {
    const m = manager();
    const { live, bytes } = m.residency();
    return { instances: m.list().map((i) => toInstanceView(i)), live, live_bytes: bytes };
  });

  /** GET /instances/:id — the instance; 404 WASM64_INSTANCE_NOT_FOUND. Changes nothing. */
  app.get('/instances/:id', {
    schema: { summary: 'Describe an instance', params: InstanceParamsSchema, response: { 200: InstanceSchema, '4xx': ProblemSchema, '5xx': ProblemSchema } },
  }, async (request) => {
    const instance = manager().get(request.params.id);
    if (instance === undefined) throw new ServiceError('WASM64_INSTANCE_NOT_FOUND', `no instance has the id "${request.params.id}"`);
    return toInstanceView(instance);
  });

  /**
   * GET /instances/:id/snapshot — the state after every job submitted before it: memory (deflated, base64),
   * exported mutable globals, message count, module id and sha256 of the memory. Changes: that state becomes
   * the instance's checkpoint.
   */
  app.get('/instances/:id/snapshot', {
    schema: { summary: 'Snapshot an instance', params: InstanceParamsSchema, response: { 200: SnapshotSchema, '4xx': ProblemSchema, '5xx': ProblemSchema } },
  }, async (request) => {
    const m = manager();
    const { instance, state } = await m.snapshot(request.params.id);
    return m.view(instance, state);
  });

  /** DELETE /instances/:id — its waiting and running jobs end cancelled; it is gone. Produces the instance as it was. */
  app.delete('/instances/:id', {
    schema: { summary: 'Delete an instance', params: InstanceParamsSchema, response: { 200: InstanceSchema, '4xx': ProblemSchema, '5xx': ProblemSchema } },
  }, async (request) => {
    const instance = manager().delete(request.params.id);
    request.log.info({ instance: instance.id }, 'instance deleted');
    return toInstanceView(instance);
  });
};
