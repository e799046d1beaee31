// Ceiling: a bare Fastify route that parses the same small JSON body a job sends and answers a small JSON.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.post('/job', async () => ({ status: 'completed', result: 5 }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
