// The module routes of the ~wasm64@1.0 device: upload a module once, then run it by id.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ServiceError } from '../errors.js';
import type { JobDevice } from '../device/job-device.js';
import { moduleSource, normalizeModuleId } from '../device/module-source.js';
import type { StoredModule } from '../device/module-store.js';
import { WasmBodySchema } from '../schemas/job.js';
import { ModuleParamsSchema, ModuleSchema, ModuleUploadSchema } from '../schemas/module.js';
import type { ModuleUpload, ModuleView } from '../schemas/module.js';
import { ProblemSchema } from '../schemas/problem.js';
import { PREFIX } from './jobs.js';

/** The API's JSON form of a stored module. */
export function toModuleView(module: StoredModule): ModuleView {
  const { memory } = module.info;
  return {
    module_id: module.id,
    size: module.size,
    exports: module.info.exports.map(({ name, params, results }) => ({ name, params, results })),
    memory: memory === null ? null : { index: memory.index, min: memory.min, max: memory.max },
    imports: module.info.imports.map(({ module: from, name, kind }) => ({ module: from, name, kind })),
    cache: { ...module.stats },
  };
}

export const moduleRoutes: FastifyPluginAsyncTypebox<{ device: JobDevice }> = async (app, { device }) => {
  /**
   * POST /modules — assumes: the module as application/wasm, or JSON with `module` (base64) or `wat`.
   * Produces: 201 with its description and a Location (200 if it was stored already). Changes: stores the
   * module, evicting the least recently used beyond MAX_MODULES / MAX_MODULE_STORE_BYTES; nothing on error.
   */
  app.post('/modules', {
    schema: {
      summary: 'Validate, describe and store a module',
      description: 'Send the wasm binary as application/wasm, or JSON with `module` (base64) or `wat`. Invalid wasm is a 400 with the engine\'s message.',
      body: {
        content: {
          'application/json': { schema: ModuleUploadSchema },
          'application/wasm': { schema: WasmBodySchema },
        },
      },
      response: { 200: ModuleSchema, 201: ModuleSchema, '4xx': ProblemSchema, '5xx': ProblemSchema },
    },
  }, async (request, reply) => {
    const body = request.body as ModuleUpload | Buffer | undefined;
    if (body === undefined || body === null || (Buffer.isBuffer(body) && body.length === 0)) {
      throw new ServiceError('WASM64_EMPTY_BODY', 'send the module as application/wasm, or JSON with "module" (base64) or "wat"');
    }
    const upload = Buffer.isBuffer(body) ? new Uint8Array(body.buffer, body.byteOffset, body.length) : undefined;
    const source = await moduleSource(Buffer.isBuffer(body) ? {} : body, upload, device.modules.maxModuleBytes);
    if (source.kind !== 'bytes') throw new ServiceError('WASM64_EMPTY_BODY', 'send "module" (base64) or "wat"');
    const { module, fresh } = await device.modules.add(source.bytes);
    if (fresh) request.log.info({ module: module.id, size: module.size }, 'module stored');
    return reply.code(fresh ? 201 : 200).header('location', `${PREFIX}/modules/${module.id}`).send(toModuleView(module));
  });

  /** GET /modules/:id — produces the module's description and compile counters; 404 if not stored. Changes nothing. */
  app.get('/modules/:id', {
    schema: {
      summary: 'Describe a stored module',
      params: ModuleParamsSchema,
      response: { 200: ModuleSchema, '4xx': ProblemSchema },
    },
  }, async (request) => {
    const id = normalizeModuleId(request.params.id) ?? request.params.id;
    const module = await device.modules.get(id);
    if (module === undefined) throw new ServiceError('WASM64_MODULE_NOT_FOUND', `no module has the id "${id}"; upload it with POST ${PREFIX}/modules`);
    return toModuleView(module);
  });
};
