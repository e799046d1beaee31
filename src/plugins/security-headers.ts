// The security headers of a JSON API, computed once with helmet and set on every answer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';

/**
 * What helmet sets with this configuration: nothing may embed, frame or sniff the answers. Computed once:
 * @fastify/helmet rebuilt helmet's middleware, its CSP parsing included, for every request (5% of a loaded
 * main thread's profile, see bench/RESULTS.md), for headers that never change. Helmet's headers that only
 * an HTML document acts on are left out (the OWASP REST cheat sheet's set, plus CORP and Referrer-Policy):
 * each costs every answer its bytes and its pass through Node's header checks.
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
    // Document-only: a browsing context group, a DNS prefetch of links, IE8's open-download prompt, Flash and
    // PDF cross-domain policy files, the retired XSS auditor.
    crossOriginOpenerPolicy: false,
    originAgentCluster: false,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xPermittedCrossDomainPolicies: false,
    xXssProtection: false,
    // helmet throws a bad configuration at once (since 8.1); next is only called when all is set.
  })({} as IncomingMessage, response as unknown as ServerResponse, () => undefined);
  return headers;
}
