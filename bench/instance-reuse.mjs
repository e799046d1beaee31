// `node bench/instance-reuse.mjs`: what a job's instance costs in a worker, fresh against reset (src/wasm/reuse.ts).
// In process, on the default module (memory64, one 64 KiB page), `add(2, 3)` per job; alternating rounds.
import { performance } from 'node:perf_hooks';
import { loadDefaultModule } from '../dist/device/module-store.js';
import { enableMemory64 } from '../dist/wasm/features.js';
import { InstanceCache, planReuse } from '../dist/wasm/reuse.js';

enableMemory64();
const stored = await loadDefaultModule();
const planned = planReuse(stored.bytes);
if (!('plan' in planned)) throw new Error(`the default module is not reusable: ${planned.reason}`);
const { plan } = planned;
const JOBS = Number(process.env.JOBS ?? 100_000);

const variants = {
  fresh: () => {
    for (let i = 0; i < JOBS; i++) new WebAssembly.Instance(stored.compiled, {}).exports.add(2n, 3n);
  },
  reset: () => {
    const cache = new InstanceCache(4);
    for (let i = 0; i < JOBS; i++) {
      const instance = cache.instantiate('default', stored.compiled, plan);
      instance.exports.add(2n, 3n);
      cache.release('default', instance);
    }
  },
};

// CPU time of the whole process: a fresh instance's memory is also paid for by the GC's helper threads.
const rows = { fresh: [], reset: [] };
for (let round = 0; round < 3; round++) {
  for (const [name, run] of Object.entries(variants)) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    run();
    const wall = ((performance.now() - t0) * 1000) / JOBS;
    const cpu = process.cpuUsage(cpu0);
    rows[name].push({ wall, cpu: (cpu.user + cpu.system) / JOBS });
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
for (const [name, list] of Object.entries(rows)) {
  console.log(`${name}: ${median(list.map((r) => r.wall)).toFixed(2)} us wall a job, ${median(list.map((r) => r.cpu)).toFixed(2)} us CPU a job (all threads), median of 3 rounds of ${JOBS}`);
}
