// Case 6: what fuel metering costs on a CPU-bound function (metered job time / unmetered job time).
import { startService } from '../lib/servers.mjs';
import { runJob } from '../lib/jobs.mjs';
import { median } from '../lib/load.mjs';
import { calibrateFibRec } from './cpu-scaling.mjs';

export async function fuel({ quick, features, log }) {
  const { n } = await calibrateFibRec(quick ? 5 : 50);
  const repeats = quick ? 2 : 10;
  const service = await startService('fuel', { POOL_THREADS: '1', LOG_LEVEL: 'warn' });
  const metered = [];
  const unmetered = [];
  try {
    const plain = { function: 'fib_rec', parameters: [n] };
    const withFuel = { ...plain, fuel: Number.MAX_SAFE_INTEGER };
    await runJob(service.url, plain, features);
    await runJob(service.url, withFuel, features);
    // Alternated, one at a time on one thread: both see the same machine.
    for (let i = 0; i < repeats; i++) {
      unmetered.push((await runJob(service.url, plain, features)).job.duration_ms);
      metered.push((await runJob(service.url, withFuel, features)).job.duration_ms);
    }
  } finally {
    await service.stop();
  }
  log(`  fib_rec(${n}): unmetered ${median(unmetered).toFixed(1)} ms, metered ${median(metered).toFixed(1)} ms (wasm time per job)`);
  return [
    {
      case: `fuel metering: fib_rec(${n}) metered vs unmetered (wasm time per job)`,
      detail: `unmetered ${median(unmetered).toFixed(1)} ms, metered ${median(metered).toFixed(1)} ms`,
      ratio: median(metered) / median(unmetered),
      ratioOf: 'x slower',
      target: { atMost: 2 },
    },
  ];
}
