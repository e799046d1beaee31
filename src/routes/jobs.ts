// The job routes of the ~wasm64@1.0 device: run, status (with long-poll), cancel, and the job list.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { FastifyReply } from 'fastify';
import { ServiceError } from '../errors.js';
import { isTerminal } from '../device/job.js';
import type { Job } from '../device/job.js';
import type { SubmitOptions } from '../device/job-device.js';
import type { JobDevice } from '../device/job-device.js';
import { ProblemSchema } from '../schemas/problem.js';
import {
  JobListSchema,
  JobParamsSchema,
  JobSchema,
  ListQuerySchema,
  RunAcceptedSchema,
  RunHeadersSchema,
  RunQuerySchema,
  RunRequestSchema,
  StatusQuerySchema,
  WasmBodySchema,
} from '../schemas/job.js';
import type { RunQuery, RunRequest } from '../schemas/job.js';
import { toJobView } from '../schemas/job-view.js';
import type { RunInput } from '../device/run-input.js';
import { parsePrefer } from './prefer.js';

export const PREFIX = '/~wasm64@1.0';

export interface JobRoutesOptions {
  device: JobDevice;
  /** Cap on `?wait=` and `Prefer: wait=`, in seconds. */
  waitMaxSeconds: number;
}

const DEFAULT_LIST_LIMIT = 50;
const MAX_LIST_LIMIT = 1000;

/** A response schema carrying the description and headers openapi.yaml shows for it (the serializer ignores both). */
function documented<T extends TSchema>(schema: T, description: string, headers: Record<string, string> = {}): T {
  const described = Object.fromEntries(Object.entries(headers).map(([name, text]) => [name, { type: 'string', description: text }]));
  return { ...schema, 'x-response-description': description, ...(Object.keys(described).length > 0 ? { headers: described } : {}) };
}

const LOCATION = { location: 'The job: /~wasm64@1.0/status/<id>' };
const REPLAYED = { 'idempotent-replayed': '"true" when an Idempotency-Key matched an earlier request and its job is returned' };
const PREFERENCE_APPLIED = { 'preference-applied': 'The preference honoured: wait=<seconds actually waited at most>, or respond-async' };

// Cursors are opaque to clients: a versioned, base64url-wrapped position in the submission order.
const encodeCursor = (seq: number): string => Buffer.from(`v1:${seq}`).toString('base64url');

function decodeCursor(cursor: string): number {
  const match = /^v1:([1-9][0-9]{0,15})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  if (match?.[1] === undefined) throw new ServiceError('WASM64_BAD_CURSOR', 'the cursor is not one this service gave out; list again without it');
  return Number(match[1]);
}

/**
 * The device's input from the validated body. The schema's type fits RunInput field for field, so nothing is
 * copied on the hot path; the day they part, the mapping goes here (and the compiler says so).
 */
const toRunInput = (body: RunRequest): RunInput => body;

/**
 * The run a request asks for. A JSON body is the request itself; an application/wasm body is the module,
 * and the call and limits come from the query string (`?function=fac&parameters=5`, parameters repeatable).
 */
function runRequestOf(body: RunRequest | Buffer | undefined, query: RunQuery): { body: RunInput; upload?: Uint8Array } {
  if (body === undefined || body === null || (Buffer.isBuffer(body) && body.length === 0)) {
    throw new ServiceError('WASM64_EMPTY_BODY', 'send a JSON object, or the module itself as application/wasm');
  }
  const fromQuery = Object.keys(query).length > 0;
  if (!Buffer.isBuffer(body)) {
    if (fromQuery) throw new ServiceError('WASM64_BAD_REQUEST', 'query parameters go with an application/wasm body; put them in the JSON body instead');
    return { body: toRunInput(body) };
  }
  const run: Record<string, unknown> = {};
  if (query.code !== undefined) run.code = query.code;
  if (query.function !== undefined) run.function = query.function;
  if (query.parameters !== undefined) run.parameters = Array.isArray(query.parameters) ? query.parameters : [query.parameters];
  for (const field of ['timeout_ms', 'memory_limit', 'fuel'] as const) {
    if (query[field] !== undefined) run[field] = Number(query[field]);
  }
  // The same bounds as a JSON body's (minimums, maximums), which the query's digit patterns do not carry.
  if (!Value.Check(RunRequestSchema, run)) {
    const error = Value.Errors(RunRequestSchema, run).First();
    throw new ServiceError('WASM64_BAD_REQUEST', `invalid query: ${error === undefined ? 'it does not match the run schema' : `${error.path} ${error.message}`}`);
  }
  return { body: toRunInput(run), upload: new Uint8Array(body.buffer, body.byteOffset, body.length) };
}

export const jobRoutes: FastifyPluginAsyncTypebox<JobRoutesOptions> = async (app, { device, waitMaxSeconds }) => {
  // Closing the app ends every wait at once, so a long poll never holds up a shutdown.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    device.endWaits();
  });

  /** Waits up to `seconds` for `job` to be terminal; a client that disconnects ends its wait. */
  function waitForJob(job: Job, seconds: number, reply: FastifyReply): Promise<Job> {
    if (closing || seconds <= 0 || isTerminal(job)) return Promise.resolve(job);
    // The response's 'close' fires when the client goes away before we answer (the request's fires once its body is read).
    return device.waitFor(job, Math.min(seconds, waitMaxSeconds) * 1000, (end) => {
      // Gone while the job was being submitted: its 'close' has fired already and would never end the wait.
      if (reply.raw.destroyed) {
        end();
        return () => undefined;
      }
      reply.raw.once('close', end);
      return () => reply.raw.removeListener('close', end);
    });
  }

  /**
   * POST /run — assumes: a JSON body with `code`, or `function` and `parameters`, and optionally `timeout_ms`.
   * Produces: 202 with the job id and a Location to poll; with `Prefer: wait=N`, 200 and the finished job
   * if it ends within N seconds. With an `Idempotency-Key` seen before and the same body, the same job
   * (`Idempotent-Replayed: true`). Changes: adds a queued job to the store, or nothing on any error.
   */
  app.post('/run', {
    schema: {
      summary: 'Submit a job',
      description:
        'Answers 202 with the job id. `Prefer: wait=<seconds>` (RFC 7240) holds the request until the job ends, answering 200 with the job if it ends in time, '
        + 'and says so in `Preference-Applied`. `Idempotency-Key` makes a retried request return the same job.',
      headers: RunHeadersSchema,
      querystring: RunQuerySchema,
      body: {
        content: {
          'application/json': { schema: RunRequestSchema },
          'application/wasm': { schema: WasmBodySchema },
        },
      },
      response: {
        200: documented(JobSchema, 'The job ended within Prefer: wait', { ...LOCATION, ...PREFERENCE_APPLIED, ...REPLAYED }),
        202: documented(RunAcceptedSchema, 'The job is accepted; poll Location', { ...LOCATION, ...PREFERENCE_APPLIED, ...REPLAYED }),
        429: documented(ProblemSchema, 'WASM64_QUEUE_FULL: nothing was created; retry after Retry-After', { 'retry-after': 'Seconds to wait' }),
        '4xx': ProblemSchema,
        '5xx': ProblemSchema,
      },
    },
  }, async (request, reply) => {
    const key = request.headers['idempotency-key'];
    const { body, upload } = runRequestOf(request.body as RunRequest | Buffer | undefined, request.query);
    const options: SubmitOptions = {};
    if (key !== undefined) options.idempotencyKey = key;
    if (upload !== undefined) options.upload = upload;
    const { job, replayed } = await device.submit(body, options);
    const statusUrl = `${PREFIX}/status/${job.id}`;
    if (replayed) void reply.header('idempotent-replayed', 'true');
    // The request's one log line names the job; a second line per run would cost more than the route.
    request.jobId = job.id;
    void reply.header('location', statusUrl);

    // A new job is answered as it was accepted, queued, even if dispatch (which runs before this continuation) started it.
    let status = replayed ? job.status : 'queued';
    const prefer = parsePrefer(request.headers.prefer);
    if (prefer.wait !== undefined) {
      const seconds = Math.min(prefer.wait, waitMaxSeconds);
      void reply.header('preference-applied', `wait=${seconds}`);
      const settled = await waitForJob(job, seconds, reply);
      if (isTerminal(settled)) return reply.code(200).send(toJobView(settled));
      status = settled.status;
    } else if (prefer.respondAsync) {
      void reply.header('preference-applied', 'respond-async');
    }
    return reply.code(202).send({ id: job.id, status, status_url: statusUrl });
  });

  /**
   * GET /status/:id — produces the job as it is now; with `?wait=N`, once it is terminal or N seconds have
   * passed, whichever is first. 404 for an unknown or expired id. Changes nothing.
   */
  app.get('/status/:id', {
    schema: {
      summary: 'Read a job, optionally waiting for it to finish',
      params: JobParamsSchema,
      querystring: StatusQuerySchema,
      response: { 200: documented(JobSchema, 'The job, terminal or as it was when the wait ended'), '4xx': ProblemSchema },
    },
  }, async (request, reply) => {
    const found = device.get(request.params.id);
    const job = found instanceof Promise ? await found : found;
    if (job === undefined) throw new ServiceError('WASM64_JOB_NOT_FOUND', `no job has the id "${request.params.id}"`);
    const { wait } = request.query;
    return toJobView(wait === undefined ? job : await waitForJob(job, Number(wait), reply));
  });

  /**
   * POST /cancel/:id — a queued or running job ends `cancelled` (error code WASM64_CANCELLED); a running one's
   * thread is terminated and replaced. Produces the cancelled job. 409 WASM64_JOB_FINISHED if it had already ended.
   */
  app.post('/cancel/:id', {
    schema: {
      summary: 'Cancel a queued or running job',
      params: JobParamsSchema,
      response: { 200: documented(JobSchema, 'The job, now cancelled'), '4xx': ProblemSchema },
    },
  }, async (request) => {
    const job = await device.cancel(request.params.id);
    request.log.info({ job: job.id }, 'job cancelled');
    return toJobView(job);
  });

  /**
   * GET /jobs — produces stored jobs newest first, `limit` per page, optionally only those with `status`;
   * `next_cursor` fetches the next page. Changes nothing (expired jobs are dropped on the way).
   */
  app.get('/jobs', {
    schema: {
      summary: 'List jobs, newest first',
      querystring: ListQuerySchema,
      response: { 200: documented(JobListSchema, 'A page of jobs'), '4xx': ProblemSchema },
    },
  }, async (request) => {
    const { status, limit, cursor } = request.query;
    const pageSize = limit === undefined ? DEFAULT_LIST_LIMIT : Number(limit);
    if (pageSize < 1 || pageSize > MAX_LIST_LIMIT) {
      throw new ServiceError('WASM64_BAD_REQUEST', `limit must be from 1 to ${MAX_LIST_LIMIT}, got ${pageSize}`);
    }
    const page = await device.list({
      limit: pageSize,
      ...(status === undefined ? {} : { status }),
      ...(cursor === undefined ? {} : { beforeSeq: decodeCursor(cursor) }),
    });
    return { jobs: page.jobs.map(toJobView), next_cursor: page.nextSeq === undefined ? null : encodeCursor(page.nextSeq) };
  });
};
