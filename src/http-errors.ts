// Answers what never reaches a route as problem+json too: unparsable URLs, overlong path segments, and malformed HTTP.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { toProblem } from './errors.js';
import type { ErrorCode } from './errors.js';

/** Fastify's `frameworkErrors`: the router's own refusals (a bad percent-encoding, a path segment over the limit). */
export function frameworkError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const detail = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path segment is too long; job ids are 36 characters' : 'the URL is not valid (check its percent-encoding)';
  const problem = toProblem(err.code === 'FST_ERR_ASYNC_CONSTRAINT' ? 'WASM64_INTERNAL' : 'WASM64_BAD_REQUEST', detail, request.url);
  void reply.code(problem.status).type('application/problem+json').send(problem);
}

const CLIENT_ERRORS: Record<string, { code: ErrorCode; detail: string }> = {
  HPE_HEADER_OVERFLOW: { code: 'WASM64_HEADERS_TOO_LARGE', detail: 'the request headers are larger than the server accepts' },
  ERR_HTTP_REQUEST_TIMEOUT: { code: 'WASM64_REQUEST_TIMEOUT', detail: 'the request was not received in time' },
};

/** How long a refused connection may keep sending after its answer before it is cut. */
const LINGER_MS = 1000;

/**
 * Fastify's `clientErrorHandler`: a connection sent something that is not HTTP (or too much of it). Node gives
 * us the raw socket; we write one problem+json answer and end our side. Not `destroy()` at once: closing a
 * socket that still holds unread bytes (the rest of 64 KiB of headers) makes the kernel send a reset, and the
 * client then loses the answer before reading it (Node 24 does so reliably). The connection is cut after
 * LINGER_MS if the client keeps it open.
 */
export function clientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  if (!socket.writable) return; // answered already; the linger timer ends it
  const { code, detail } = CLIENT_ERRORS[err.code ?? ''] ?? { code: 'WASM64_BAD_REQUEST' as const, detail: 'the request is not valid HTTP/1.1' };
  const problem = toProblem(code, detail);
  const body = JSON.stringify(problem);
  socket.end(
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? 'Error'}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
