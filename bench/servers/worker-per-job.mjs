// Baseline: a new worker thread per job, to show what a pool of long-lived threads buys.
import { Worker } from 'node:worker_threads';
import Fastify from 'fastify';
import { loadDefaultModule } from '../../dist/device/module-store.js';
import { enableMemory64 } from '../../dist/wasm/features.js';

enableMemory64();
const module = await loadDefaultModule();
const workerUrl = new URL('./worker-per-job-worker.mjs', import.meta.url);

function runInNewWorker(task) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerUrl);
    worker.once('message', (result) => {
      resolve(result);
      void worker.terminate();
    });
    worker.once('error', reject);
    // Posted, not passed as workerData: the worker must enable memory64 before it receives the module.
    worker.postMessage(task);
  });
}

const app = Fastify({ logger: false });
app.post('/job', async (request) => {
  const { function: name, parameters } = request.body;
  const result = await runInNewWorker({ module: module.compiled, function: name, parameters: parameters.map(BigInt) });
  return { status: 'completed', result: Number(result) };
});
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
