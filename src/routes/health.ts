// Liveness and readiness probes for load balancers and orchestrators: open, and never rate limited.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { toProblem } from '../errors.js';
import { LivenessSchema, NotReadySchema, ReadinessSchema } from '../schemas/health.js';
import type { ReadinessChecks } from '../schemas/health.js';

/** What readiness looks at: the device. */
export interface ReadinessSource {
  /** False once shutdown has begun. */
  readonly accepting: boolean;
  readonly queued: number;
  /** The pool's threads; readiness needs one alive. */
  readonly workers: { readonly live: number };
  /** False while Redis (STORE=redis) cannot be reached. */
  readonly storeAvailable: boolean;
}

const OPEN = { auth: false, rateLimit: false } as const;

export const healthRoutes: FastifyPluginAsyncTypebox<{ device: ReadinessSource; maxQueue: number }> = async (app, { device, maxQueue }) => {
  /** GET /healthz — the process is alive and its event loop answers. Stays 200 while shutting down. */
  app.get('/healthz', { config: OPEN, schema: { summary: 'Liveness', security: [], response: { 200: LivenessSchema } } }, async () => ({
    status: 'ok' as const,
  }));

  /**
   * GET /readyz — 200 when new jobs are welcome here: not shutting down, workers alive, room in the queue,
   * the job store reachable.
   * Otherwise 503 WASM64_NOT_READY with the checks, so a load balancer sends jobs elsewhere.
   */
  app.get('/readyz', {
    config: OPEN,
    schema: { summary: 'Readiness', security: [], response: { 200: ReadinessSchema, 503: NotReadySchema } },
  }, async (request, reply) => {
    const checks: ReadinessChecks = {
      accepting: device.accepting,
      workers: device.workers.live > 0,
      queue: device.queued < maxQueue,
      store: device.storeAvailable,
    };
    if (checks.accepting && checks.workers && checks.queue && checks.store) return { status: 'ready' as const, checks };
    const failed = Object.keys(checks).filter((k) => !checks[k as keyof ReadinessChecks]);
    const problem = toProblem('WASM64_NOT_READY', `failing checks: ${failed.join(', ')}`, request.url);
    return reply.code(503).type('application/problem+json').send({ ...problem, checks });
  });
};
