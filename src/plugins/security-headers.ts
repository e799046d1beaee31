// The security headers of a JSON API, computed once with helmet and set on every answer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';

/**
 * What helmet sets with this configuration: nothing may embed, frame or sniff the answers. Computed once:
 * @fastify/helmet rebuilt helmet's middleware, its CSP parsing included, for every request (5% of a loaded
 * main thread's profile, see bench/RESULTS.md), for headers that never change.
 */
export function securityHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: unknown) => {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    frameguard: { action: 'deny' },
    // helmet throws a bad configuration at once (since 8.1); next is only called when all is set.
  })({} as IncomingMessage, response as unknown as ServerResponse, () => undefined);
  return headers;
}
