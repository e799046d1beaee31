// What the health routes answer: liveness, and readiness with the check that failed.
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { ProblemSchema } from './problem.js';

export const LivenessSchema = Type.Object({ status: Type.Literal('ok') });

export const ReadinessChecksSchema = Type.Object(
  {
    accepting: Type.Boolean({ description: 'The service is not shutting down' }),
    workers: Type.Boolean({ description: 'The worker pool has live threads' }),
    queue: Type.Boolean({ description: 'The job queue has room (POOL_MAX_QUEUE; with STORE=redis, across the cluster)' }),
    store: Type.Boolean({ description: 'The job store answers: always with STORE=memory; Redis is reachable with STORE=redis' }),
  },
  { description: 'Each readiness check: true when it passes' },
);
export type ReadinessChecks = Static<typeof ReadinessChecksSchema>;

export const ReadinessSchema = Type.Object({ status: Type.Literal('ready'), checks: ReadinessChecksSchema });

export const NotReadySchema = Type.Composite([ProblemSchema, Type.Object({ checks: ReadinessChecksSchema })], {
  description: 'A WASM64_NOT_READY problem with the readiness checks',
});
