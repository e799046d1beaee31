// Drives jobs at a server with autocannon: one or two requests per job, counting only jobs that really ended.
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';

/** The p-th percentile (0..100) of sorted numbers. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export const median = (values) => percentile([...values].sort((a, b) => a - b), 50);

/**
 * A flow is the requests of one job, in order. Each step: { method, path | pathOf(context), headers, body,
 * onBody(status, body, context) } where the last step's onBody says whether the job completed.
 * Latency is timed here, per job, in sub-millisecond resolution (autocannon's histogram has whole ms),
 * from the moment the first request is built to the last response.
 */
export async function driveJobs(baseUrl, flow, { connections, seconds, amount, overallRate }) {
  const latencies = [];
  let failed = 0;
  const last = flow.length - 1;
  const requests = flow.map((step, i) => ({
    method: step.method,
    path: step.path ?? '/',
    headers: step.headers ?? {},
    ...(step.body !== undefined ? { body: step.body } : {}),
    setupRequest: (request, context) => {
      if (i === 0) {
        context.t0 = performance.now();
        return request;
      }
      // An earlier step failed: returning nothing makes autocannon start the next job.
      if (context.skip) return undefined;
      return step.pathOf ? { ...request, path: step.pathOf(context) } : request;
    },
    onResponse: (status, body, context) => {
      const ok = step.onBody(status, body, context);
      if (i === last || !ok) {
        if (ok) latencies.push(performance.now() - context.t0);
        else {
          failed++;
          context.skip = true;
        }
      }
    },
  }));
  const started = performance.now();
  const result = await autocannon({
    url: baseUrl,
    connections,
    pipelining: 1,
    ...(amount !== undefined ? { amount } : { duration: seconds }),
    // Requests per second across all connections (a steady arrival rate); absent: as fast as answers come.
    ...(overallRate !== undefined ? { overallRate } : {}),
    requests,
    timeout: 30,
  });
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    jobs: latencies.length,
    failed,
    seconds: elapsed,
    jobsPerSec: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors: result.errors + result.timeouts,
  };
}
