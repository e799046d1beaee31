// The job routes of the ~wasm64@1.0 device: submit a run, read a job's status.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ServiceError } from '../errors.js';
import type { Job } from '../device/job.js';
import type { Wasm64Device } from '../device/device.js';
import { ProblemSchema } from '../schemas/problem.js';
import { JobParamsSchema, JobSchema, RunAcceptedSchema, RunRequestSchema } from '../schemas/job.js';
import type { JobView } from '../schemas/job.js';

export const PREFIX = '/~wasm64@1.0';

const iso = (ms: number): string => new Date(ms).toISOString();

/** The API's JSON form of a job: snake_case, ISO timestamps, `result` beside `results`. */
export function toJobView(job: Job): JobView {
  const view: JobView = {
    id: job.id,
    status: job.status,
    module_id: job.moduleId,
    function: job.function,
    parameters: job.parameters,
    created_at: iso(job.createdAt),
  };
  if (job.results !== undefined) {
    view.result = job.results[0] ?? null;
    view.results = job.results;
  }
  if (job.error !== undefined) view.error = job.error;
  if (job.startedAt !== undefined) view.started_at = iso(job.startedAt);
  if (job.finishedAt !== undefined) view.finished_at = iso(job.finishedAt);
  if (job.durationMs !== undefined) view.duration_ms = Math.round(job.durationMs * 1000) / 1000;
  return view;
}

export const jobRoutes: FastifyPluginAsyncTypebox<{ device: Wasm64Device }> = async (app, { device }) => {
  /**
   * POST /run — assumes: a JSON body with `code`, or `function` and `parameters`.
   * Produces: 202 with the job id and a Location to poll. Changes: adds a queued job to the store.
   */
  app.post('/run', {
    schema: {
      summary: 'Submit a job',
      body: RunRequestSchema,
      response: { 202: RunAcceptedSchema, '4xx': ProblemSchema, '5xx': ProblemSchema },
    },
  }, async (request, reply) => {
    const job = device.submit(request.body);
    const statusUrl = `${PREFIX}/status/${job.id}`;
    request.log.info({ job: job.id, function: job.function }, 'job accepted');
    return reply.code(202).header('location', statusUrl).send({ id: job.id, status: job.status, status_url: statusUrl });
  });

  /** GET /status/:id — produces the job as it is now; 404 for an unknown or expired id. Changes nothing. */
  app.get('/status/:id', {
    schema: {
      summary: 'Read a job',
      params: JobParamsSchema,
      response: { 200: JobSchema, '4xx': ProblemSchema },
    },
  }, async (request) => {
    const job = device.get(request.params.id);
    if (job === undefined) throw new ServiceError('WASM64_JOB_NOT_FOUND', `no job has the id "${request.params.id}"`);
    return toJobView(job);
  });
};
