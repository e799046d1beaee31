// The per-task cost of the two module-reuse designs, isolated from the pool and from thread scheduling:
// post a task over a MessageChannel, receive it, instantiate, call. "module" posts the compiled
// WebAssembly.Module (what the service does); "key" posts a hash and the bytes in a SharedArrayBuffer and
// looks the compiled module up in a Map (what a per-worker LRU does on a hit). Alternated, 7 rounds, medians.
// Run: npm run build && node bench/module-post.mjs
import { MessageChannel } from 'node:worker_threads';
import { loadavg } from 'node:os';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { enableMemory64 } from '../dist/wasm/features.js';

enableMemory64();
const TASKS = Number(process.env.TASKS ?? 5000);
const bytes = new Uint8Array(await readFile('src/wasm/default-module.wasm'));
const module = await WebAssembly.compile(bytes);
const shared = new Uint8Array(new SharedArrayBuffer(bytes.length));
shared.set(bytes);
const cache = new Map([['sha256:default', module]]);

/** Microseconds per task, all tasks posted at once and run as they arrive. */
async function perTask(kind) {
  const { port1, port2 } = new MessageChannel();
  let done = 0;
  const finished = new Promise((resolve) => {
    port2.on('message', (task) => {
      const compiled = kind === 'module' ? task.module : cache.get(task.key);
      new WebAssembly.Instance(compiled, {}).exports.add(...task.parameters);
      if (++done === TASKS) resolve();
    });
  });
  const t0 = performance.now();
  for (let i = 0; i < TASKS; i++) {
    port1.postMessage(kind === 'module'
      ? { module, function: 'add', parameters: [2n, 3n] }
      : { key: 'sha256:default', bytes: shared, function: 'add', parameters: [2n, 3n] });
  }
  await finished;
  port1.close();
  return ((performance.now() - t0) * 1000) / TASKS;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const times = { module: [], key: [] };
for (let round = 0; round < 7; round++) {
  times.module.push(await perTask('module'));
  times.key.push(await perTask('key'));
}
console.log(`node ${process.version}, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}: µs per task (post, receive, instantiate, call): `
  + `compiled Module posted ${median(times.module).toFixed(1)}, key + bytes + Map hit ${median(times.key).toFixed(1)}`);
