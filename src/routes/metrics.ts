// GET /metrics: the registry in Prometheus text format, for a scraper. Open and never rate limited.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Registry } from 'prom-client';

export const metricsRoutes: FastifyPluginAsyncTypebox<{ registry: Registry }> = async (app, { registry }) => {
  app.get('/metrics', {
    config: { auth: false, rateLimit: false },
    schema: {
      summary: 'Prometheus metrics',
      description: 'HTTP requests and latency, jobs by final status, job duration and queue wait, queue depth, workers, process metrics',
      security: [],
      response: {
        200: {
          description: 'Prometheus text exposition format 0.0.4',
          content: { 'text/plain': { schema: { type: 'string' } } },
        },
      },
    },
  }, async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
};
