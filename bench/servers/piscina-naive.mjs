// Ceiling: a naive Fastify + Piscina route: one pool.run per request, no job store, min = max threads.
import Fastify from 'fastify';
import { Piscina } from 'piscina';
import { loadDefaultModule } from '../../dist/device/module-store.js';
import { enableMemory64 } from '../../dist/wasm/features.js';

enableMemory64();
const module = await loadDefaultModule();
const threads = Number(process.env.POOL_THREADS ?? 2);
const pool = new Piscina({
  filename: new URL('./piscina-naive-worker.mjs', import.meta.url).href,
  minThreads: threads,
  maxThreads: threads,
  idleTimeout: 60_000,
  maxQueue: 100_000,
});
const app = Fastify({ logger: false });
app.post('/job', async (request) => {
  const { function: name, parameters } = request.body;
  const result = await pool.run({ module: module.compiled, function: name, parameters: parameters.map(BigInt) });
  return { status: 'completed', result: Number(result) };
});
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
