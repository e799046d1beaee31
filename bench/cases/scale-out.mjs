// Case: STORE=redis. What Redis mode costs per job beside memory mode, and what a second replica gains.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { calibrateFibRec } from './cpu-scaling.mjs';
import { cpuSeconds, freePort, startService } from '../lib/servers.mjs';
import { runJob } from '../lib/jobs.mjs';
import { driveJobs, median, percentile } from '../lib/load.mjs';
import { preferWaitFlow } from '../lib/flows.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A redis-server on a free port, without persistence (as the tests run it). */
async function startRedisServer() {
  const port = await freePort();
  const child = spawn('redis-server', ['--save', '', '--appendonly', 'no', '--port', String(port), '--bind', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise((resolve, reject) => {
    let out = '';
    child.once('error', (err) => reject(new Error(`the scale-out case needs redis-server (apt-get install redis-server): ${err.message}`)));
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) resolve();
    });
    setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
  });
  process.on('exit', () => child.kill('SIGKILL'));
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    stop: () => new Promise((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', () => resolve()), child.kill('SIGTERM')))),
  };
}

const redisEnv = (url, prefix, threads) => ({ STORE: 'redis', REDIS_URL: url, REDIS_PREFIX: prefix, POOL_THREADS: String(threads), LOG_LEVEL: 'warn' });

/** CPU seconds used so far by the servers and (in Redis mode) redis-server: what a job costs the machine. */
const cpuOf = (pids) => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);

/** One job at a time, `jobs` times: the latency of a job with nothing else going on (p50, ms). */
async function sequentialLatency(url, jobs, features) {
  const times = [];
  for (let i = 0; i < jobs; i++) times.push((await runJob(url, { function: 'add', parameters: [2, 3] }, features)).ms);
  times.sort((a, b) => a - b);
  return percentile(times, 50);
}

/** `connections` clients split over `urls`, each job POST /run with Prefer: wait; jobs/s summed. */
async function loadOver(urls, { connections, seconds, amount }) {
  const share = Math.max(1, Math.floor(connections / urls.length));
  const results = await Promise.all(
    urls.map((url) => driveJobs(url, preferWaitFlow(), amount !== undefined ? { connections: share, amount } : { connections: share, seconds })),
  );
  return { jobsPerSec: results.reduce((n, r) => n + r.jobsPerSec, 0), jobs: results.reduce((n, r) => n + r.jobs, 0), p50: median(results.map((r) => r.p50)), misses: results.reduce((n, r) => n + r.failed + r.errors, 0) };
}

/** `jobs` CPU-bound jobs submitted at once, alternating over `urls`; ms until the last one completed. */
async function cpuBatch(urls, n, jobs, features) {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: jobs }, (_, i) => runJob(urls[i % urls.length], { function: 'fib_rec', parameters: [n] }, features)));
  return performance.now() - t0;
}

export async function scaleOut({ quick, features, log }) {
  const rounds = quick ? 1 : 3;
  const seconds = 4;
  const connections = quick ? 4 : 32;
  const sequentialJobs = quick ? 5 : 200;
  const { n, ms } = await calibrateFibRec(quick ? 5 : 50);
  const cpuJobs = quick ? 4 : 16;

  const redis = await startRedisServer();
  // One at a time: five servers booting together on a busy 2-core machine can miss the start timeout.
  const servers = [];
  for (const [name, env] of [
    ['memory, 2 threads', { POOL_THREADS: '2', LOG_LEVEL: 'warn' }],
    ['redis, 2 threads', redisEnv(redis.url, 'overhead', 2)],
    ['redis replica 1 of 1', redisEnv(redis.url, 'one', 1)],
    ['redis replica 1 of 2', redisEnv(redis.url, 'two', 1)],
    ['redis replica 2 of 2', redisEnv(redis.url, 'two', 1)],
  ]) {
    try {
      servers.push(await startService(name, env));
    } catch (err) {
      await Promise.all(servers.map((x) => x.stop()));
      await redis.stop();
      throw err;
    }
  }
  const [memory, redisTwoThreads, single, pairA, pairB] = servers;
  const s = { memLoad: [], redisLoad: [], memLatency: [], redisLatency: [], oneCpu: [], twoCpu: [], oneLight: [], twoLight: [] };
  try {
    await runJob(single.url, { function: 'add', parameters: [1, 1] }, features);
    if (!quick) for (const url of [memory.url, redisTwoThreads.url]) await driveJobs(url, preferWaitFlow(), { connections, seconds: 1 }); // warm-up
    for (let round = 0; round < rounds; round++) {
      const drive = quick ? { connections, amount: 20 } : { connections, seconds };
      for (const [key, server, pids] of [
        ['memLoad', memory, [memory.pid]],
        ['redisLoad', redisTwoThreads, [redisTwoThreads.pid, redis.pid]],
      ]) {
        await sleep(quick ? 50 : 500);
        const cpu0 = cpuOf(pids);
        const r = await loadOver([server.url], drive);
        r.cpuUsPerJob = ((cpuOf(pids) - cpu0) * 1e6) / r.jobs;
        s[key].push(r);
      }
      s.memLatency.push(await sequentialLatency(memory.url, sequentialJobs, features));
      s.redisLatency.push(await sequentialLatency(redisTwoThreads.url, sequentialJobs, features));

      s.oneCpu.push(await cpuBatch([single.url], n, cpuJobs, features));
      s.twoCpu.push(await cpuBatch([pairA.url, pairB.url], n, cpuJobs, features));
      s.oneLight.push(await loadOver([single.url], drive));
      s.twoLight.push(await loadOver([pairA.url, pairB.url], drive));
      const last = (k) => s[k].at(-1);
      log(
        `  round ${round + 1}: memory ${last('memLoad').jobsPerSec.toFixed(0)} jobs/s (${last('memLoad').cpuUsPerJob.toFixed(0)} us CPU/job), ` +
          `redis ${last('redisLoad').jobsPerSec.toFixed(0)} jobs/s (${last('redisLoad').cpuUsPerJob.toFixed(0)} us CPU/job incl. redis-server); ` +
          `one at a time p50 memory ${last('memLatency').toFixed(2)} ms, redis ${last('redisLatency').toFixed(2)} ms; ` +
          `${cpuJobs} fib_rec(${n}) on 1 replica ${last('oneCpu').toFixed(0)} ms, on 2 ${last('twoCpu').toFixed(0)} ms; ` +
          `add on 1 replica ${last('oneLight').jobsPerSec.toFixed(0)} jobs/s, on 2 ${last('twoLight').jobsPerSec.toFixed(0)} jobs/s`,
      );
    }
  } finally {
    await Promise.all(servers.map((x) => x.stop()));
    await redis.stop();
  }

  const med = (k, f = (x) => x) => median(s[k].map(f));
  const perRound = (a, b, f = (x) => x) => median(s[a].map((x, i) => f(x) / f(s[b][i])));
  return [
    {
      case: `Redis mode vs memory mode: jobs/s, POST /run with Prefer: wait, ${connections} connections, one replica of 2 threads`,
      detail: `memory ${med('memLoad', (r) => r.jobsPerSec).toFixed(0)} jobs/s (${med('memLoad', (r) => r.cpuUsPerJob).toFixed(0)} us CPU/job), redis ${med('redisLoad', (r) => r.jobsPerSec).toFixed(0)} jobs/s (${med('redisLoad', (r) => r.cpuUsPerJob).toFixed(0)} us CPU/job, service + redis-server)`,
      ratio: perRound('redisLoad', 'memLoad', (r) => r.jobsPerSec),
      ratioOf: 'x memory mode',
    },
    {
      case: 'Redis mode vs memory mode: CPU per job (service, plus redis-server in Redis mode)',
      detail: `memory ${med('memLoad', (r) => r.cpuUsPerJob).toFixed(0)} us, redis ${med('redisLoad', (r) => r.cpuUsPerJob).toFixed(0)} us`,
      ratio: perRound('redisLoad', 'memLoad', (r) => r.cpuUsPerJob),
      ratioOf: 'x memory mode',
    },
    {
      case: 'Redis mode vs memory mode: latency of one job at a time (p50, Prefer: wait)',
      detail: `memory ${med('memLatency').toFixed(2)} ms, redis ${med('redisLatency').toFixed(2)} ms: Redis adds ${(med('redisLatency') - med('memLatency')).toFixed(2)} ms per job`,
      ratio: perRound('redisLatency', 'memLatency'),
      ratioOf: 'x memory mode',
    },
    {
      case: `Replicas: ${cpuJobs} fib_rec(${n}) jobs (~${ms.toFixed(0)} ms each), 1 vs 2 replicas of 1 thread on one Redis`,
      detail: `1 replica ${med('oneCpu').toFixed(0)} ms, 2 replicas ${med('twoCpu').toFixed(0)} ms`,
      ratio: perRound('oneCpu', 'twoCpu'),
      ratioOf: 'x speed-up',
      target: { atLeast: 1.6 },
    },
    {
      case: `Replicas: add jobs/s, Prefer: wait, ${connections} connections, 1 vs 2 replicas of 1 thread on one Redis`,
      detail: `1 replica ${med('oneLight', (r) => r.jobsPerSec).toFixed(0)} jobs/s, 2 replicas ${med('twoLight', (r) => r.jobsPerSec).toFixed(0)} jobs/s`,
      ratio: perRound('twoLight', 'oneLight', (r) => r.jobsPerSec),
      ratioOf: 'x one replica',
    },
  ];
}
