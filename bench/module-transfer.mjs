// Compares two ways to reuse compiled modules across jobs on the real Piscina pool:
//   compiled: the main thread compiles once and posts the WebAssembly.Module with every task (V8 shares its code);
//   bytes+LRU: the main thread posts the bytes (a SharedArrayBuffer, no copy) and a hash; each worker compiles
//              on a miss and keeps an LRU of compiled modules by hash.
// Run: npm run build && node bench/module-transfer.mjs
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { compileWat } from '../dist/wasm/wat.js';
import { enableMemory64 } from '../dist/wasm/features.js';

enableMemory64();
const THREADS = Number(process.env.THREADS ?? 2);
const JOBS = Number(process.env.JOBS ?? 20000);
const IN_FLIGHT = THREADS * 2;

function bigModuleWat(functions) {
  const body = [];
  for (let i = 0; i < functions; i++) {
    body.push(`(func $f${i} ${i % 500 === 0 ? `(export "f${i}")` : ''} (param $a i64) (param $b i64) (result i64)
      (i64.add (i64.mul (local.get $a) (i64.const ${i + 1})) (i64.xor (local.get $b) (i64.const ${i * 7}))))`);
  }
  return `(module (memory i64 1) ${body.join('\n')})`;
}

const modules = [
  { name: 'default module (1 KiB)', bytes: new Uint8Array(await readFile('src/wasm/default-module.wasm')), function: 'add' },
  { name: '5000 functions, 10 exported', bytes: await compileWat(bigModuleWat(5000)), function: 'f1000' },
];

async function measure(mode, mod) {
  const pool = new Piscina({
    filename: fileURLToPath(new URL('./module-transfer-worker.mjs', import.meta.url)),
    minThreads: THREADS, maxThreads: THREADS, idleTimeout: 60_000, concurrentTasksPerWorker: 1,
  });
  const hash = createHash('sha256').update(mod.bytes).digest('hex');
  const shared = new Uint8Array(new SharedArrayBuffer(mod.bytes.length));
  shared.set(mod.bytes);
  const t0 = performance.now();
  const compiled = mode === 'compiled' ? await WebAssembly.compile(mod.bytes) : undefined;
  const task = () => (mode === 'compiled'
    ? { module: compiled, function: mod.function, parameters: [2n, 3n] }
    : { hash, bytes: shared, function: mod.function, parameters: [2n, 3n] });
  // The first job, cold: what a client waits for the first time it sends this module.
  await pool.run(task());
  const first = performance.now() - t0;
  const jobs = JOBS;
  let done = 0;
  let submitted = 0;
  const t1 = performance.now();
  await new Promise((resolve, reject) => {
    const next = () => {
      if (submitted >= jobs) { if (done === jobs) resolve(); return; }
      submitted++;
      pool.run(task()).then(() => { done++; next(); }, reject);
    };
    for (let i = 0; i < IN_FLIGHT; i++) next();
  });
  const seconds = (performance.now() - t1) / 1000;
  await pool.destroy();
  return { first, perSecond: jobs / seconds };
}

console.log(`node ${process.version}, ${THREADS} threads, ${JOBS} jobs per run, ${IN_FLIGHT} in flight`);
for (const mod of modules) {
  for (const mode of ['compiled', 'bytes+LRU', 'compiled', 'bytes+LRU']) {
    const { first, perSecond } = await measure(mode, mod);
    console.log(`${mod.name.padEnd(26)} ${String(mod.bytes.length).padStart(7)} B  ${mode.padEnd(10)} first job ${first.toFixed(1).padStart(7)} ms   ${Math.round(perSecond)} jobs/s`);
  }
}
