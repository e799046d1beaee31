// Cases 1-3: jobs/s, p50 and p99 of the service's flows beside the ceilings, all servers up side by side.
import { startServer, startService } from '../lib/servers.mjs';
import { driveJobs, median } from '../lib/load.mjs';
import { ceilingFlow, preferWaitFlow, submitOnlyFlow, submitStatusFlow } from '../lib/flows.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The flows with a target, as a share of the bare route's jobs/s (issue 11). */
const TARGETS = { preferWait: 0.4, submitStatus: 0.2 };

/**
 * Every flow is measured once per round, in the same order, so each round's ratios compare figures taken
 * seconds apart; a flow with a target is measured right after a bare run of its own. The reported ratio
 * is the median over rounds.
 */
export async function throughput({ quick, features, log }) {
  const rounds = quick ? 1 : 5;
  const seconds = 3;
  // Quick mode only checks that each flow completes jobs: few connections, so a new Worker per job stays cheap.
  const connections = quick ? 4 : 32;
  const servers = await Promise.all([
    startServer('bare', 'bench/servers/bare.mjs'),
    startServer('wasm-inproc', 'bench/servers/wasm-inproc.mjs'),
    startServer('piscina-naive', 'bench/servers/piscina-naive.mjs', { POOL_THREADS: '2' }),
    startServer('worker-per-job', 'bench/servers/worker-per-job.mjs'),
    startService('service', { POOL_THREADS: '2' }),
  ]);
  const [bare, inproc, naive, perJob, service] = servers;
  const targets = [
    { key: 'bare', label: 'bare Fastify route (ceiling)', server: bare, flow: ceilingFlow() },
    { key: 'inproc', label: 'in-process wasm add behind Fastify (ceiling)', server: inproc, flow: ceilingFlow() },
    { key: 'naive', label: 'naive Fastify + Piscina, one pool.run per request', server: naive, flow: ceilingFlow() },
    { key: 'perJob', label: 'new Worker per job (baseline)', server: perJob, flow: ceilingFlow() },
    { key: 'submit', label: 'service: POST /run, 202 only (job not awaited)', server: service, flow: submitOnlyFlow() },
    {
      key: 'submitStatus',
      label: `service: POST /run + GET /status${features.longPoll ? '?wait' : ' (no long-poll: an unfinished read counts as a miss)'}`,
      server: service,
      flow: submitStatusFlow(undefined, { longPoll: features.longPoll }),
    },
  ];
  if (features.preferWait) targets.push({ key: 'preferWait', label: 'service: POST /run, Prefer: wait', server: service, flow: preferWaitFlow() });

  const samples = Object.fromEntries(targets.map((t) => [t.key, []]));
  // The bare route measured right before each flow that has a target: the machine drifts within a round
  // (bare itself swung 11k-20k req/s between rounds here), so each ratio compares figures seconds apart.
  const pairedBare = Object.fromEntries(Object.keys(TARGETS).map((key) => [key, []]));
  const roundBare = [];
  const measure = async (t) => {
    await sleep(quick ? 50 : 500); // let the previous target's stragglers finish
    // Quick mode counts jobs, not seconds: even the slowest flow completes some.
    const cpuBefore = t.server.cpuSeconds();
    const r = await driveJobs(t.server.url, t.flow, quick ? { connections, amount: 20 * t.flow.length } : { connections, seconds });
    // CPU per job of the server process (all threads): steadier than jobs/s when neighbours load the machine.
    r.cpuUsPerJob = ((t.server.cpuSeconds() - cpuBefore) * 1e6) / r.jobs;
    return r;
  };
  try {
    if (!quick) for (const t of targets) await driveJobs(t.server.url, t.flow, { connections, seconds: 1 }); // warm-up
    for (let round = 0; round < rounds; round++) {
      for (const t of targets) {
        if (TARGETS[t.key] !== undefined && !quick) {
          const bareNow = await measure(targets[0]);
          samples.bare.push(bareNow);
          pairedBare[t.key].push(bareNow);
          log(`  round ${round + 1} bare (paired with ${t.key}): ${bareNow.jobsPerSec.toFixed(0)} jobs/s`);
        }
        const r = await measure(t);
        samples[t.key].push(r);
        if (t.key === 'bare') roundBare.push(r);
        log(`  round ${round + 1} ${t.key}: ${r.jobsPerSec.toFixed(0)} jobs/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, server CPU ${r.cpuUsPerJob.toFixed(0)} us/job, misses ${r.failed}, errors ${r.errors}`);
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }

  // A flow with a target against the bare run paired with it; any other against the round's first bare run.
  const bareOf = (key, i) => (pairedBare[key]?.[i] ?? roundBare[i]).jobsPerSec;
  const ratioToBare = (key) => median(samples[key].map((r, i) => r.jobsPerSec / bareOf(key, i)));
  return targets.map((t) => {
    const runs = samples[t.key];
    return {
      case: t.label,
      jobsPerSec: median(runs.map((r) => r.jobsPerSec)),
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      cpuUsPerJob: median(runs.map((r) => r.cpuUsPerJob)),
      jobs: runs.reduce((n, r) => n + r.jobs, 0),
      misses: runs.reduce((n, r) => n + r.failed + r.errors, 0),
      ratio: t.key === 'bare' ? 1 : ratioToBare(t.key),
      ratioOf: 'x bare',
      target: TARGETS[t.key] !== undefined ? { atLeast: TARGETS[t.key] } : undefined,
    };
  });
}
