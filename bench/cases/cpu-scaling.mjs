// Case 4: CPU-bound jobs (fib_rec, ~50 ms each) on 1 thread and on 2: how well the pool uses the cores.
import { performance } from 'node:perf_hooks';
import { loadDefaultModule } from '../../dist/device/module-store.js';
import { enableMemory64 } from '../../dist/wasm/features.js';
import { startService } from '../lib/servers.mjs';
import { runJob } from '../lib/jobs.mjs';
import { median } from '../lib/load.mjs';

/** The smallest n for which fib_rec(n) takes at least `ms` here (median of three runs). */
export async function calibrateFibRec(ms) {
  enableMemory64();
  const fibRec = new WebAssembly.Instance((await loadDefaultModule()).compiled, {}).exports.fib_rec;
  for (let n = 20; n < 45; n++) {
    const times = [0, 1, 2].map(() => {
      const t0 = performance.now();
      fibRec(BigInt(n));
      return performance.now() - t0;
    });
    if (median(times) >= ms) return { n, ms: median(times) };
  }
  throw new Error(`fib_rec never took ${ms} ms`);
}

/** Runs `jobs` fib_rec(n) jobs at once; the wall time for all, and each job's wasm time as its worker measured it. */
async function batch(service, n, jobs, features) {
  const t0 = performance.now();
  const done = await Promise.all(Array.from({ length: jobs }, () => runJob(service.url, { function: 'fib_rec', parameters: [n] }, features)));
  return { ms: performance.now() - t0, wasmMs: median(done.map((d) => d.job.duration_ms)) };
}

export async function cpuScaling({ quick, features, log }) {
  const { n, ms } = await calibrateFibRec(quick ? 5 : 50);
  // 16 jobs per thread: a batch ends with one thread idle while the other runs its last job, and with 8
  // per thread that tail was up to 1/8 of the 2-thread time (chains of 8 ending 61 ms apart; RESULTS.md).
  const jobs = quick ? 4 : 32;
  const rounds = quick ? 1 : 3;
  log(`  fib_rec(${n}) takes ${ms.toFixed(1)} ms in-process; ${jobs} jobs per batch`);
  const one = await startService('1 thread', { POOL_THREADS: '1', LOG_LEVEL: 'warn' });
  const two = await startService('2 threads', { POOL_THREADS: '2', LOG_LEVEL: 'warn' });
  const times = { one: [], two: [] };
  // A job's own wasm time: when two threads' jobs each take twice as long as one thread's, they did run
  // side by side but the machine gave them one core's worth between them (neighbours), not the pool.
  const wasm = { one: [], two: [] };
  try {
    await batch(one, n, 2, features);
    await batch(two, n, 2, features);
    for (let round = 0; round < rounds; round++) {
      for (const [key, service] of [['one', one], ['two', two]]) {
        const { ms: wall, wasmMs } = await batch(service, n, jobs, features);
        times[key].push(wall);
        wasm[key].push(wasmMs);
      }
      log(`  round ${round + 1}: 1 thread ${times.one.at(-1).toFixed(0)} ms (${wasm.one.at(-1).toFixed(0)} ms a job), 2 threads ${times.two.at(-1).toFixed(0)} ms (${wasm.two.at(-1).toFixed(0)} ms a job)`);
    }
  } finally {
    await Promise.all([one.stop(), two.stop()]);
  }
  const speedups = times.one.map((t, i) => t / times.two[i]);
  return [
    {
      case: `CPU-bound scaling: ${jobs} fib_rec(${n}) jobs (~${ms.toFixed(0)} ms each), 1 vs 2 threads`,
      detail: `1 thread ${median(times.one).toFixed(0)} ms, 2 threads ${median(times.two).toFixed(0)} ms; wasm time a job (median): 1 thread ${median(wasm.one).toFixed(0)} ms, 2 threads ${median(wasm.two).toFixed(0)} ms`,
      ratio: median(speedups),
      ratioOf: 'x speed-up',
      target: { atLeast: 1.8 },
    },
  ];
}
