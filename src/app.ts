// Builds the Fastify application from its parts; starting and stopping it is server.ts's job.
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from './config.js';
import { ServiceError, toProblem } from './errors.js';
import { clientError, frameworkError } from './http-errors.js';
import type { ErrorCode } from './errors.js';
import type { JobDevice } from './device/job-device.js';
import type { Metrics } from './metrics.js';
import { bearerAuth } from './plugins/auth.js';
import { methodNotAllowed } from './plugins/method-not-allowed.js';
import { securityHeaders } from './plugins/security-headers.js';
import { healthRoutes } from './routes/health.js';
import { jobRoutes, PREFIX } from './routes/jobs.js';
import { moduleRoutes } from './routes/modules.js';
import { instanceRoutes } from './routes/instances.js';
import { metricsRoutes } from './routes/metrics.js';

export interface AppDependencies {
  config: Config;
  device: JobDevice;
  logger: FastifyBaseLogger;
  /** Its registry is what GET /metrics serves: one per app, so that tests can build apps side by side. */
  metrics: Metrics;
}

const OPENAPI_INFO = {
  openapi: '3.1.0',
  info: {
    title: 'wasm-job-dispatcher',
    version: '0.1.0',
    description: 'An AO-style ~wasm64@1.0 device: submit WebAssembly (wasm64 and wasm32) jobs over HTTP and read their results.',
  },
  components: {
    securitySchemes: {
      bearer: { type: 'http' as const, scheme: 'bearer', description: 'One of API_TOKENS; needed only when the service runs with API_TOKENS set' },
    },
  },
  security: [{ bearer: [] }],
};

// Printable ASCII without spaces, as request ids from proxies and tracers are; anything else gets a fresh id.
const REQUEST_ID = /^[\x21-\x7e]{1,200}$/;

/** Honours the caller's (or the load balancer's) x-request-id when it is sane, else makes a UUID. */
function requestId(req: { headers: IncomingHttpHeaders }): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** Maps Fastify's own errors (parsing, validation, limits) to our codes. */
function codeOf(err: FastifyError, request: FastifyRequest): ErrorCode {
  if (err.validation) return err.validationContext === 'body' && request.body == null ? 'WASM64_EMPTY_BODY' : 'WASM64_BAD_REQUEST';
  switch (err.code) {
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'WASM64_EMPTY_BODY';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return err.statusCode === 415 ? 'WASM64_UNSUPPORTED_MEDIA_TYPE' : 'WASM64_BAD_REQUEST';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'WASM64_BODY_TOO_LARGE';
    default:
      if (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return 'WASM64_MALFORMED_JSON';
      return (err.statusCode ?? 500) < 500 ? 'WASM64_BAD_REQUEST' : 'WASM64_INTERNAL';
  }
}

/** A hop count means: the client is the address that many proxies back (what proxy-addr does with a number). */
function trustProxy(setting: boolean | number): boolean | ((address: string, hop: number) => boolean) {
  return typeof setting === 'number' ? (_address, hop) => hop < setting : setting;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The job a run request created or returned: its request's log line names it. */
    jobId: string | undefined;
  }
}

/** One log line per request, when it completes: method, url, status, time and any job, under the request id. */
class RequestLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = {
      method: request.method,
      url: request.url,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 100) / 100,
      ...(request.client ? { client: request.client } : {}),
      ...(request.jobId === undefined ? {} : { job: request.jobId }),
    };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request completed');
  }
}

/** Clients that percent-encode the device path (%7E for ~, %40 for @) still reach it. */
function rewriteDevicePath(url: string): string {
  return url.startsWith('/%7') ? url.replace(/^\/%7[Ee]wasm64(?:@|%40)1\.0/, PREFIX) : url;
}

export async function buildApp({ config, device, logger, metrics }: AppDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: config.bodyLimit,
    logController: new RequestLogController(),
    rewriteUrl: (req) => rewriteDevicePath(req.url ?? '/'),
    // genReqId reads x-request-id itself, to refuse ids that are huge or would garble a log line.
    requestIdHeader: false,
    genReqId: requestId,
    trustProxy: trustProxy(config.trustProxy),
    routerOptions: { ignoreTrailingSlash: true },
    frameworkErrors: frameworkError,
    clientErrorHandler: clientError,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.decorateRequest('jobId', undefined);
  // TypeBox checks bodies as they are (no coercion, unknown properties rejected, not stripped).
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  // JSON only (wasm bytes get their own parser where a route takes them): text is a 415, not a string body.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('client', '');

  // Every answer, errors included, carries the id its log lines are under.
  // Callback hooks, not async ones: an async hook costs a promise and a microtask on every request.
  app.addHook('onSend', (request, reply, payload, done) => {
    void reply.header('x-request-id', request.id);
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    metrics.httpRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  if (config.apiTokens.length > 0) app.addHook('onRequest', bearerAuth(config.apiTokens));
  // A module sent as itself: routes that take one accept application/wasm and read the bytes as a Buffer.
  app.addContentTypeParser('application/wasm', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((err: FastifyError, request, reply) => {
    let code: ErrorCode;
    let detail: string;
    if (err instanceof ServiceError) {
      code = err.code;
      detail = err.message;
      void reply.headers(err.headers);
    } else {
      code = codeOf(err, request);
      detail = err.validation ? `invalid request: ${err.message}` : err.message;
    }
    const problem = toProblem(code, detail, request.url);
    // A ServiceError's 5xx (shutting down, Redis away) is expected and says what to do; anything else is a bug.
    if (problem.status >= 500 && !(err instanceof ServiceError)) {
      request.log.error({ err }, 'request failed');
      problem.detail = 'internal error; the request id is in the x-request-id header';
    }
    return reply.code(problem.status).type('application/problem+json').send(problem);
  });

  app.setNotFoundHandler((request, reply) => {
    const problem = toProblem('WASM64_ROUTE_NOT_FOUND', `no route for ${request.method} ${request.url}`, request.url);
    return reply.code(404).type('application/problem+json').send(problem);
  });

  // A JSON API serves no documents: forbid every kind of embedding, framing, sniffing and referrer leak.
  const security = securityHeaders();
  app.addHook('onRequest', (_request, reply, done) => {
    void reply.headers(security);
    done();
  });
  // Per client: its token when the service has API_TOKENS, else its address. Routes registered after this
  // are limited unless they opt out (health and metrics). The limit's hook runs after authentication's, so
  // it knows the token, and a request refused with 401 spends no one's budget.
  if (config.rateLimitMax > 0) {
    await app.register(rateLimit, {
      global: true,
      max: config.rateLimitMax,
      timeWindow: config.rateLimitWindowMs,
      keyGenerator: (request) => request.client || request.ip,
      errorResponseBuilder: (_request, context) =>
        new ServiceError('WASM64_RATE_LIMITED', `this client made more than ${context.max} requests in ${config.rateLimitWindowMs} ms; retry in ${context.after}`),
    });
  }
  await app.register(swagger, { openapi: OPENAPI_INFO });
  const answerOtherMethods = methodNotAllowed(app);
  await app.register(healthRoutes, { device, maxQueue: config.poolMaxQueue });
  await app.register(metricsRoutes, { registry: metrics.registry });
  await app.register(jobRoutes, { prefix: PREFIX, device, waitMaxSeconds: config.waitMaxSeconds });
  await app.register(moduleRoutes, { prefix: PREFIX, device });
  await app.register(instanceRoutes, { prefix: PREFIX, instances: device.instances });
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  answerOtherMethods();
  return app;
}
