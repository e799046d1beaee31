// Case 7: the service's resident memory across 100k completed jobs while finished jobs expire (must plateau).
import { driveJobs } from '../lib/load.mjs';
import { preferWaitFlow, submitOnlyFlow } from '../lib/flows.mjs';
import { startService } from '../lib/servers.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;

/**
 * Jobs arrive at a steady rate (below what the service can do here), so the number of finished jobs the TTL
 * keeps alive is the same at every sample: RSS then shows whether anything else accumulates. Driven flat out
 * instead, the live set moves with the machine's speed (at ~3,000-4,000 jobs/s a 2 s TTL holds 6,000-8,000
 * jobs) and the samples with it.
 */
export async function memory({ quick, features, log }) {
  const total = quick ? 2000 : 100_000;
  const step = total / 5;
  const ttlSeconds = 2;
  const jobsPerSecond = quick ? undefined : 2000;
  const service = await startService('memory', { POOL_THREADS: '2', LOG_LEVEL: 'warn', JOB_TTL_SECONDS: String(ttlSeconds) });
  const flow = features.preferWait ? preferWaitFlow() : submitOnlyFlow();
  const samples = [];
  let done = 0;
  let misses = 0;
  try {
    while (done < total) {
      const r = await driveJobs(service.url, flow, { connections: 32, amount: step, ...(jobsPerSecond ? { overallRate: jobsPerSecond } : {}) });
      done += r.jobs;
      misses += r.failed + r.errors;
      if (r.jobs === 0) throw new Error('no job completed');
      await sleep(quick ? 100 : ttlSeconds * 1000 + 500); // past the TTL: what is left is what the service keeps
      samples.push({ jobs: done, rss: service.rss() });
      log(`  ${done} jobs: RSS ${(samples.at(-1).rss / MB).toFixed(1)} MB`);
    }
  } finally {
    await service.stop();
  }
  const first = samples[0];
  const last = samples.at(-1);
  const peak = Math.max(...samples.map((s) => s.rss));
  return [
    {
      case: `memory: RSS across ${total / 1000}k completed jobs${jobsPerSecond ? ` at ${jobsPerSecond} jobs/s` : ''} (JOB_TTL_SECONDS=${ttlSeconds})`,
      detail: samples.map((s) => `${s.jobs / 1000}k: ${(s.rss / MB).toFixed(0)} MB`).join(', ') + (misses ? `; ${misses} not completed` : ''),
      ratio: peak / first.rss,
      ratioOf: `x (peak / RSS at ${first.jobs / 1000}k)`,
      target: { atMost: 1.1 },
      lastRatio: last.rss / first.rss,
    },
  ];
}
