// Ceiling: the job's wasm `add` run on the main thread behind Fastify (a fresh instance per job, as the service does).
import Fastify from 'fastify';
import { loadDefaultModule } from '../../dist/device/module-store.js';
import { enableMemory64 } from '../../dist/wasm/features.js';

enableMemory64();
const module = await loadDefaultModule();
const app = Fastify({ logger: false });
app.post('/job', async (request) => {
  const { function: name, parameters } = request.body;
  const instance = new WebAssembly.Instance(module.compiled, {});
  const result = instance.exports[name](...parameters.map(BigInt));
  return { status: 'completed', result: Number(result) };
});
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
