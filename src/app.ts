// Builds the Fastify application from its parts; starting and stopping it is server.ts's job.
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from './config.js';
import { ServiceError, toProblem } from './errors.js';
import type { ErrorCode } from './errors.js';
import type { Wasm64Device } from './device/device.js';
import { jobRoutes, PREFIX } from './routes/jobs.js';

export interface AppDependencies {
  config: Config;
  device: Wasm64Device;
  logger: FastifyBaseLogger;
}

const OPENAPI_INFO = {
  openapi: '3.1.0',
  info: {
    title: 'wasm-job-dispatcher',
    version: '0.1.0',
    description: 'An AO-style ~wasm64@1.0 device: submit WebAssembly (wasm64 and wasm32) jobs over HTTP and read their results.',
  },
};

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

/** One log line per request, when it completes: method, url, status and time, under the request id. */
class RequestLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100 };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request completed');
  }
}

/** Clients that percent-encode the device path (%7E for ~, %40 for @) still reach it. */
function rewriteDevicePath(url: string): string {
  return url.startsWith('/%7') ? url.replace(/^\/%7[Ee]wasm64(?:@|%40)1\.0/, PREFIX) : url;
}

export async function buildApp({ config, device, logger }: AppDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: config.bodyLimit,
    logController: new RequestLogController(),
    rewriteUrl: (req) => rewriteDevicePath(req.url ?? '/'),
    requestIdHeader: 'x-request-id',
    routerOptions: { ignoreTrailingSlash: true },
  }).withTypeProvider<TypeBoxTypeProvider>();
  // TypeBox checks bodies as they are (no coercion, unknown properties rejected, not stripped).
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  // JSON only (wasm bytes get their own parser where a route takes them): text is a 415, not a string body.
  app.removeContentTypeParser('text/plain');

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
    if (problem.status >= 500) {
      request.log.error({ err }, 'request failed');
      problem.detail = 'internal error; the request id is in the x-request-id header';
    }
    void reply.header('x-request-id', request.id);
    return reply.code(problem.status).type('application/problem+json').send(problem);
  });

  app.setNotFoundHandler((request, reply) => {
    const problem = toProblem('WASM64_ROUTE_NOT_FOUND', `no route for ${request.method} ${request.url}`, request.url);
    return reply.code(404).type('application/problem+json').send(problem);
  });

  await app.register(swagger, { openapi: OPENAPI_INFO });
  await app.register(jobRoutes, { prefix: PREFIX, device, waitMaxSeconds: config.waitMaxSeconds });
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  return app;
}
