// Case 5: the first job on a new ~500 KB module (sent inline) against repeated jobs naming it by module_id.
import { performance } from 'node:perf_hooks';
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
  const repeats = quick ? 3 : 20;
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

export async function moduleCache(options) {
  const service = await startService('module cache', { POOL_THREADS: '2', LOG_LEVEL: 'warn' });
  try {
    // Warm the service's own code first (a cold process's first few hundred requests run unoptimised
    // JavaScript): both the first and the repeated jobs then measure the module cache, not the JIT.
    for (let i = 0; i < (options.quick ? 5 : 500); i++) await runJob(service.url, { function: 'add', parameters: [2, 3] }, options.features);
    // A program's shape (few entry points, many internal functions) first; then every function exported,
    // where each job's instance pays V8's cost of building 1700 exports (see bench/RESULTS.md).
    return [await measure(service, options, 100, 0), await measure(service, options, 1, 500)];
  } finally {
    await service.stop();
  }
}
