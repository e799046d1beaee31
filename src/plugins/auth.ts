// Bearer-token authentication: with API_TOKENS set, every route not marked `config: { auth: false }` needs a token.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ServiceError } from '../errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: the route answers without a token (health and metrics). */
    auth?: boolean;
  }
  interface FastifyRequest {
    /** Who is calling: `token-<n>` (the n-th of API_TOKENS) when authenticated, else ''. */
    client: string;
  }
}

const BEARER = /^Bearer +([^\s,]+) *$/i;

// Comparing fixed-size digests makes the time taken independent of how much of a token matches, and of its length.
const digest = (token: string): Buffer => createHash('sha256').update(token).digest();

/** An onRequest hook that refuses, with 401 WASM64_UNAUTHORIZED, a request without one of `tokens`. */
export function bearerAuth(tokens: readonly string[]): (request: FastifyRequest) => Promise<void> {
  const expected = tokens.map(digest);
  return async (request) => {
    if (request.routeOptions.config.auth === false) return;
    const presented = BEARER.exec(request.headers.authorization ?? '')?.[1];
    let match = -1;
    if (presented !== undefined) {
      const actual = digest(presented);
      // No early exit: every token is compared, so timing does not tell which one (if any) matched.
      expected.forEach((token, i) => {
        if (timingSafeEqual(token, actual)) match = i;
      });
    }
    if (match < 0) {
      throw new ServiceError(
        'WASM64_UNAUTHORIZED',
        presented === undefined ? 'this route needs an Authorization: Bearer <token> header' : 'the bearer token is not valid',
        { 'www-authenticate': presented === undefined ? 'Bearer realm="wasm64"' : 'Bearer realm="wasm64", error="invalid_token"' },
      );
    }
    request.client = `token-${match + 1}`;
  };
}
