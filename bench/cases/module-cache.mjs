// Case 5: the first job on a new ~500 KB module (sent inline) against repeated jobs naming it by module_id.
import { performance } from 'node:perf_hooks';
import { compileWat } from '../../dist/wasm/wat.js';
import { bigModule } from '../lib/big-module.mjs';
import { DEVICE } from '../lib/flows.mjs';
import { runJob } from '../lib/jobs.mjs';
import { median } from '../lib/load.mjs';
import { startService } from '../lib/servers.mjs';

async function upload(baseUrl, bytes) {
  const t0 = performance.now();
  const res = await fetch(`${baseUrl}${DEVICE}/modules`, { method: 'POST', headers: { 'content-type': 'application/wasm' }, body: bytes });
  const body = await res.json();
  if (res.status !== 200 && res.status !== 201) throw new Error(`POST /modules answered ${res.status}: ${JSON.stringify(body)}`);
  return { moduleId: body.module_id, ms: performance.now() - t0 };
}

/** First job vs repeated jobs on fresh ~500 KB modules exporting every `exportEvery`-th function. */
async function measure(service, { quick, features, log }, exportEvery, saltBase) {
  const rounds = quick ? 1 : 3;
  const repeats = quick ? 3 : 50;
  const firsts = [];
  const repeated = [];
  const uploads = [];
  let size = 0;
  for (let round = 0; round < rounds; round++) {
    // Fresh salts: neither module has been seen by the service (nor by V8) before.
    const inline = await bigModule({ salt: saltBase + 1000 * round + 1, exportEvery });
    const named = await bigModule({ salt: saltBase + 1000 * round + 2, exportEvery });
    size = inline.length;
    const call = { function: 'f7', parameters: [1] };
    firsts.push((await runJob(service.url, { module: Buffer.from(inline).toString('base64'), ...call }, features)).ms);
    const { moduleId, ms } = await upload(service.url, named);
    uploads.push(ms);
    const body = JSON.stringify({ module_id: moduleId, ...call });
    const times = [];
    for (let i = 0; i < repeats; i++) times.push((await runJob(service.url, body, features)).ms);
    repeated.push(median(times));
    log(`  ${exportEvery === 1 ? 'all exported' : `1 in ${exportEvery} exported`}, round ${round + 1}: first job ${firsts.at(-1).toFixed(1)} ms, upload ${ms.toFixed(1)} ms, repeated job (median of ${repeats}) ${repeated.at(-1).toFixed(2)} ms`);
  }
  const exportsText = exportEvery === 1 ? 'all 1700 functions exported' : `${Math.ceil(1700 / exportEvery)} of its 1700 functions exported`;
  return {
    case: `module cache: first job on a new ${(size / 1024).toFixed(0)} KB module (${exportsText}; bytes inline) vs repeated job by module_id`,
    detail: `first ${median(firsts).toFixed(1)} ms, upload once ${median(uploads).toFixed(1)} ms, repeated ${median(repeated).toFixed(2)} ms`,
    ratio: median(firsts.map((t, i) => t / repeated[i])),
    ratioOf: 'x faster',
    target: { atLeast: 20 },
  };
}

/** A tiny module no earlier call returned (and unlike the warm-up's own: it subtracts). */
let freshSalt = 0;
const freshModule = () => compileWat(`(module (func (export "f7") (param i64) (result i64) (i64.sub (local.get 0) (i64.const ${++freshSalt}))))`, 'fresh.wat');

/**
 * Runs jobs one at a time until the service's own JavaScript is optimised for every request this case makes.
 * One job at a time, each hot function runs once a job, and V8 takes thousands of jobs to optimise all of
 * them; a request of a shape the optimised code has not seen (an upload, a body in many chunks) throws much
 * of it away again, and the thousands of jobs start over (bench/RESULTS.md, sixth pass). So the warm-up
 * takes every path the measured requests take: the default module; a small module inline, then by
 * module_id; a ~200 KB module inline (a body in many chunks; a data segment, so it compiles in no time, and
 * after its first job the store finds it by hash); uploads of modules stored already; and now and then a
 * module the service has not seen, sent inline or uploaded (validated and compiled). Stops once a block's
 * median is no better than the best before it for four blocks in a row (at least 6,000 jobs, at most 14,880).
 */
async function warmUp(service, { quick, features, log }) {
  const small = await compileWat('(module (func (export "f7") (param i64) (result i64) (i64.add (local.get 0) (i64.const 1))))', 'warm.wat');
  const bulky = await compileWat(`(module (memory 4) (data (i32.const 0) "${'wasm'.repeat(50_000)}") (func (export "f7") (param i64) (result i64) (local.get 0)))`, 'bulky.wat');
  const { moduleId } = await upload(service.url, small);
  const bodies = [
    JSON.stringify({ function: 'add', parameters: [2, 3] }),
    JSON.stringify({ module: Buffer.from(small).toString('base64'), function: 'f7', parameters: [1] }),
    JSON.stringify({ module_id: moduleId, function: 'f7', parameters: [1] }),
    JSON.stringify({ function: 'add', parameters: [2, 3] }),
    JSON.stringify({ module: Buffer.from(bulky).toString('base64'), function: 'f7', parameters: [1] }),
    JSON.stringify({ module_id: moduleId, function: 'f7', parameters: [1] }),
  ];
  const block = quick ? 12 : 240;
  const medians = [];
  let stale = 0;
  while (medians.length < (quick ? 1 : 62)) {
    const times = [];
    for (let i = 0; i < block; i++) {
      times.push((await runJob(service.url, bodies[i % bodies.length], features)).ms);
      if (i % 12 === 11) await upload(service.url, i % 24 === 11 ? small : bulky);
      // The first job's and the upload's own paths: validate, compile and store a module.
      if (i % 96 === 47) await runJob(service.url, { module: Buffer.from(await freshModule()).toString('base64'), function: 'f7', parameters: [1] }, features);
      if (i % 96 === 95) await upload(service.url, await freshModule());
    }
    const m = median(times);
    stale = medians.length > 0 && m >= Math.min(...medians) ? stale + 1 : 0;
    medians.push(m);
    if (medians.length * block >= 6000 && stale >= 4) break;
  }
  log(`  warm-up: ${medians.length * block} jobs, median a block of ${block}: ${medians.map((m) => m.toFixed(2)).join(' ')} ms`);
}

export async function moduleCache(options) {
  const service = await startService('module cache', { POOL_THREADS: '2', LOG_LEVEL: 'warn' });
  try {
    // Both the first and the repeated jobs then measure the module cache, not the JIT.
    await warmUp(service, options);
    // A program's shape (few entry points, many internal functions) first; then every function exported,
    // where an instance costs V8 1700 exports to build (paid once a thread: instances are reused, and reset).
    return [await measure(service, options, 100, 0), await measure(service, options, 1, 500)];
  } finally {
    await service.stop();
  }
}
