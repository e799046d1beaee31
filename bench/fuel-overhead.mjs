// What fuel metering and the memory guard cost, in process (no pool, no HTTP): the same function, the same
// instance shape, plain vs rewritten, alternated; and how long the rewrite itself takes on the main thread.
// Run: npm run build && node bench/fuel-overhead.mjs
import { loadavg } from 'node:os';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { compileWat } from '../dist/wasm/wat.js';
import { enableMemory64 } from '../dist/wasm/features.js';
import { instrumentModule } from '../dist/wasm/instrument.js';

enableMemory64();
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const REWRITE_ROUNDS = Number(process.env.REWRITE_ROUNDS ?? 25);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const sumWat = `(module (memory 16)
  ;; Fills 1 MiB with bytes, then sums it back $n times: memory traffic in a tight loop.
  (func (export "sum") (param $n i32) (result i64)
    (local $i i32) (local $acc i64)
    (block $done (loop $fill
      (br_if $done (i32.ge_u (local.get $i) (i32.const 1048576)))
      (i32.store8 (local.get $i) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $fill)))
    (block $out (loop $again
      (br_if $out (i32.eqz (local.get $n)))
      (local.set $i (i32.const 0))
      (block $done2 (loop $read
        (br_if $done2 (i32.ge_u (local.get $i) (i32.const 1048576)))
        (local.set $acc (i64.add (local.get $acc) (i64.load8_u (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $read)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $again)))
    (local.get $acc)))`;

const workloads = [
  { name: 'fib_rec(30), default module (calls)', bytes: new Uint8Array(await readFile('src/wasm/default-module.wasm')), fn: 'fib_rec', args: [30n] },
  { name: 'count(50M), a tight loop', bytes: await compileWat(await readFile('test/fixtures/loops.wat', 'utf8')), fn: 'count', args: [50_000_000n] },
  { name: 'sum 1 MiB x 50, memory loads', bytes: await compileWat(sumWat), fn: 'sum', args: [50] },
];

function timed(bytes, instrumentation, fn, args) {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
  if (instrumentation?.fuel) instance.exports[instrumentation.fuel].value = BigInt(Number.MAX_SAFE_INTEGER);
  const t0 = performance.now();
  instance.exports[fn](...args);
  const ms = performance.now() - t0;
  const used = instrumentation?.fuel ? Number.MAX_SAFE_INTEGER - Number(instance.exports[instrumentation.fuel].value) : undefined;
  return { ms, used };
}

console.log(`node ${process.version}, ${ROUNDS} rounds, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
for (const w of workloads) {
  const metered = instrumentModule(w.bytes, { memoryCapPages: 4096, fuel: true });
  const plain = [];
  const withFuel = [];
  let used;
  timed(w.bytes, null, w.fn, w.args);
  timed(metered.bytes, metered.instrumentation, w.fn, w.args);
  for (let i = 0; i < ROUNDS; i++) {
    plain.push(timed(w.bytes, null, w.fn, w.args).ms);
    const run = timed(metered.bytes, metered.instrumentation, w.fn, w.args);
    withFuel.push(run.ms);
    used = run.used;
  }
  const ratio = median(withFuel.map((t, i) => t / plain[i]));
  console.log(`${w.name.padEnd(40)} plain ${median(plain).toFixed(1)} ms, metered ${median(withFuel).toFixed(1)} ms, x${ratio.toFixed(2)} (median of per-round ratios), ${used} units, code ${w.bytes.length} -> ${metered.bytes.length} B`);
}

/** `functions` functions with a loop and a memory.grow each: a stand-in for a large compiled program. */
function programWat(functions) {
  const body = [];
  for (let i = 0; i < functions; i++) {
    body.push(`(func (param $n i32) (result i32) (local $i i32)
      (block $d (loop $l (br_if $d (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const ${i % 13 + 1}))) (br $l)))
      (drop (memory.grow (i32.const 0)))
      (i32.add (local.get $i) (i32.load offset=${i % 1000} (i32.const 0))))`);
  }
  return `(module (memory 1) ${body.join('\n')} (export "f" (func 0)))`;
}

// The first rewrite in a process runs before V8 has optimized the rewriter (the service's case for a new
// module); later ones show its steady speed. Each module is rewritten cap-only and cap + fuel, first cold.
for (const [name, bytes] of [
  ['test/fixtures/c/demo.wasm (clang)', new Uint8Array(await readFile('test/fixtures/c/demo.wasm'))],
  ['generated, 40000 functions', await compileWat(programWat(40_000))],
]) {
  const times = { cap: [], fuel: [] };
  for (let i = 0; i < REWRITE_ROUNDS; i++) {
    let t0 = performance.now();
    instrumentModule(bytes, { memoryCapPages: 4096, fuel: false });
    times.cap.push(performance.now() - t0);
    t0 = performance.now();
    instrumentModule(bytes, { memoryCapPages: 4096, fuel: true });
    times.fuel.push(performance.now() - t0);
  }
  const speed = (ms) => `${((bytes.length / 1e6 / ms) * 1000).toFixed(1)} MB/s`;
  const report = (label, list) => `${label} first ${list[0].toFixed(1)} ms, then median ${median(list.slice(1)).toFixed(1)} ms (${speed(median(list.slice(1)))})`;
  console.log(`rewrite ${name} (${bytes.length} B): ${report('memory cap', times.cap)}; ${report('cap + fuel', times.fuel)}`);
}
console.log(`load after: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
