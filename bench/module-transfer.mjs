// Compares two ways to reuse compiled modules across jobs, on the real Piscina pool:
//   compiled:  the main thread compiles once and posts the WebAssembly.Module with every task (V8 shares its code);
//   bytes+LRU: the main thread posts the bytes (a SharedArrayBuffer, no copy) and a hash; each worker compiles
//              on a miss and keeps an LRU of compiled modules by hash.
// Rounds alternate the two, so both see the same machine; the medians are what bench/engine.md reports.
// CPU per job (all threads of the process) is the steadier figure on a shared machine; jobs/s is shown beside it.
// Run: npm run build && node bench/module-transfer.mjs   (THREADS, JOBS, ROUNDS to change the sizes)
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { compileWat } from '../dist/wasm/wat.js';
import { enableMemory64 } from '../dist/wasm/features.js';

enableMemory64();
const THREADS = Number(process.env.THREADS ?? 2);
const JOBS = Number(process.env.JOBS ?? 5000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const IN_FLIGHT = THREADS * 2;

/** `functions` small functions, one in 500 exported: the shape of a compiled program, not of a test module. */
function bigModuleWat(functions) {
  const body = [];
  for (let i = 0; i < functions; i++) {
    body.push(`(func $f${i} ${i % 500 === 0 ? `(export "f${i}")` : ''} (param $a i64) (param $b i64) (result i64)
      (i64.add (i64.mul (local.get $a) (i64.const ${i + 1})) (i64.xor (local.get $b) (i64.const ${i * 7}))))`);
  }
  return `(module (memory i64 1) ${body.join('\n')})`;
}

const modules = [
  { name: 'default module', bytes: new Uint8Array(await readFile('src/wasm/default-module.wasm')), function: 'add' },
  { name: '5000 functions', bytes: await compileWat(bigModuleWat(5000)), function: 'f1000' },
];

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function measure(mode, mod) {
  const pool = new Piscina({
    filename: fileURLToPath(new URL('./module-transfer-worker.mjs', import.meta.url)),
    minThreads: THREADS, maxThreads: THREADS, idleTimeout: 60_000, concurrentTasksPerWorker: 1,
  });
  // Let every thread come up before timing anything.
  await Promise.all(Array.from({ length: THREADS }, () => pool.run({ warmup: true })));
  const hash = createHash('sha256').update(mod.bytes).digest('hex');
  const shared = new Uint8Array(new SharedArrayBuffer(mod.bytes.length));
  shared.set(mod.bytes);
  const t0 = performance.now();
  const compiled = mode === 'compiled' ? await WebAssembly.compile(mod.bytes) : undefined;
  const task = () => (mode === 'compiled'
    ? { module: compiled, function: mod.function, parameters: [2n, 3n] }
    : { hash, bytes: shared, function: mod.function, parameters: [2n, 3n] });
  await pool.run(task());
  const first = performance.now() - t0;
  let done = 0;
  let submitted = 0;
  const cpu0 = process.cpuUsage();
  const t1 = performance.now();
  await new Promise((resolve, reject) => {
    const next = () => {
      if (submitted >= JOBS) { if (done === JOBS) resolve(); return; }
      submitted++;
      pool.run(task()).then(() => { done++; next(); }, reject);
    };
    for (let i = 0; i < IN_FLIGHT; i++) next();
  });
  const perSecond = JOBS / ((performance.now() - t1) / 1000);
  // CPU time of every thread of this process (main and workers) per job: steadier than jobs/s on a loaded machine.
  const cpu = process.cpuUsage(cpu0);
  const cpuPerJob = (cpu.user + cpu.system) / JOBS;
  await pool.destroy();
  return { first, perSecond, cpuPerJob };
}

console.log(`node ${process.version}, ${THREADS} threads, ${JOBS} jobs per round, ${ROUNDS} rounds, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
for (const mod of modules) {
  const results = { compiled: [], 'bytes+LRU': [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of round % 2 === 0 ? ['compiled', 'bytes+LRU'] : ['bytes+LRU', 'compiled']) results[mode].push(await measure(mode, mod));
  }
  for (const [mode, runs] of Object.entries(results)) {
    const rates = runs.map((r) => Math.round(r.perSecond));
    const cpu = runs.map((r) => Math.round(r.cpuPerJob));
    console.log(`${mod.name} (${mod.bytes.length} B) ${mode.padEnd(10)} CPU median ${median(cpu)} µs/job [${cpu.join(', ')}], `
      + `${median(rates)} jobs/s [${rates.join(', ')}], first job median ${median(runs.map((r) => r.first)).toFixed(1)} ms`);
  }
}
console.log(`load after: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
