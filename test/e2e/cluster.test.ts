// Two real server processes with STORE=redis on one real redis-server: one cluster, as users run it.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port.js';
import { startRedis } from '../support/redis-server.js';
import type { RedisServer } from '../support/redis-server.js';
import { startServer } from '../support/server-process.js';
import type { ServerProcess } from '../support/server-process.js';

const P = '/~wasm64@1.0';
const PREFIX = 'e2e';
type Body = Record<string, any>;

let redis: RedisServer;
let inspect: Redis;
let a: ServerProcess;
let b: ServerProcess;

function replicaEnv(url: string): Record<string, string> {
  // One thread each, and a short lock so that a killed replica's job is found within seconds.
  return { STORE: 'redis', REDIS_URL: url, REDIS_PREFIX: PREFIX, REDIS_LOCK_MS: '1000', POOL_THREADS: '1' };
}

beforeAll(async () => {
  redis = await startRedis();
  inspect = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  inspect.on('error', () => {});
  await inspect.connect();
  [a, b] = await Promise.all([startServer(replicaEnv(redis.url)), startServer(replicaEnv(redis.url))]);
}, 60_000);
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  inspect?.disconnect();
  await redis?.stop('SIGTERM');
});

async function request(server: ServerProcess, method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${P}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Body, headers: res.headers };
}

async function submit(server: ServerProcess, body: unknown): Promise<string> {
  const res = await request(server, 'POST', '/run', body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id as string;
}

/** Long-polls `server` until the job is terminal. */
async function settled(server: ServerProcess, id: string): Promise<Body> {
  const res = await request(server, 'GET', `/status/${id}?wait=30`);
  expect(['completed', 'failed', 'cancelled'], JSON.stringify(res.body)).toContain(res.body.status);
  return res.body;
}

/** Test-only: reads the job until it runs somewhere, and says which server runs it (by pid, from the job's record). */
async function runningOn(id: string): Promise<ServerProcess> {
  for (;;) {
    const [status, replica] = await inspect.hmget(`${PREFIX}:job:${id}`, 'status', 'replica');
    if (status === 'running' && typeof replica === 'string') {
      const pid = Number(replica.split(':').at(-2));
      const server = [a, b].find((s) => s.child.pid === pid);
      if (server === undefined) throw new Error(`job ${id} runs on an unknown replica ${replica}`);
      return server;
    }
    if (status !== 'queued') throw new Error(`job ${id} is ${status}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const other = (server: ServerProcess): ServerProcess => (server === a ? b : a);

describe('two replicas sharing Redis', () => {
  it('submits on one replica and waits, reads and lists on the other', async () => {
    const id = await submit(a, { code: 'add(2,3)' });
    expect(await settled(b, id)).toMatchObject({ id, status: 'completed', result: 5 });
    const waited = await request(b, 'POST', '/run', { code: 'fib(92)' }, { prefer: 'wait=30' });
    expect(waited).toMatchObject({ status: 200, body: { status: 'completed', result: '7540113804746346429' } });
    const listed = (await request(a, 'GET', '/jobs?limit=2')).body.jobs as Body[];
    expect(listed.map((j) => j.id as string)).toEqual([waited.body.id, id]);
  }, 30_000);

  it('spreads jobs over both replicas', async () => {
    const ids = await Promise.all(Array.from({ length: 6 }, () => submit(a, { code: 'fib_rec(32)' })));
    for (const id of ids) expect((await settled(b, id)).status).toBe('completed');
    const replicas = new Set(await Promise.all(ids.map((id) => inspect.hget(`${PREFIX}:job:${id}`, 'replica'))));
    expect(replicas.size).toBe(2);
  }, 60_000);

  it('cancels, from one replica, a job running on either, whose thread is stopped there', async () => {
    const id = await submit(a, { code: 'fib_rec(45)' });
    const runner = await runningOn(id);
    const cancelled = await request(b, 'POST', `/cancel/${id}`);
    expect(cancelled).toMatchObject({ status: 200, body: { id, status: 'cancelled', error: { code: 'WASM64_CANCELLED' } } });
    expect(await settled(a, id)).toMatchObject({ status: 'cancelled' });
    await expect.poll(() => runner.logs.some((l) => l.job === id && l.msg === 'stopping the job on this replica: it was settled')).toBe(true);
    // With one thread each, both replicas must be free again to run two long-ish jobs at the same time.
    const next = await Promise.all([submit(b, { code: 'fib_rec(25)' }), submit(b, { code: 'fib_rec(25)' })]);
    for (const n of next) expect((await settled(a, n)).status).toBe('completed');
  }, 60_000);

  it('ends a job failed with WASM64_REPLICA_LOST when its replica is killed mid-job, and the other keeps serving', async () => {
    const id = await submit(a, { code: 'fib_rec(45)' });
    const victim = await runningOn(id);
    const survivor = other(victim);
    expect(await victim.stop('SIGKILL')).toBe(null);
    const lost = await settled(survivor, id);
    expect(lost).toMatchObject({ status: 'failed', error: { code: 'WASM64_REPLICA_LOST' } });
    expect(lost.started_at).toBeTypeOf('string');
    expect(await settled(survivor, await submit(survivor, { code: 'add(40,2)' }))).toMatchObject({ status: 'completed', result: 42 });
    // Let the rest of the file use the survivor under both names.
    if (victim === a) a = survivor;
    else b = survivor;
  }, 60_000);

  it('answers 503 while Redis is down, never crashes, and serves again once it is back', async () => {
    const server = a;
    await redis.stop('SIGKILL');
    const refused = await request(server, 'POST', '/run', { code: 'add(1,1)' });
    expect(refused).toMatchObject({ status: 503, body: { code: 'WASM64_STORE_UNAVAILABLE' } });
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await request(server, 'GET', '/jobs')).toMatchObject({ status: 503, body: { code: 'WASM64_STORE_UNAVAILABLE' } });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ code: 'WASM64_NOT_READY', checks: { store: false } });
    await new Promise((r) => setTimeout(r, 1500)); // reconnect attempts fail meanwhile
    expect(server.child.exitCode).toBe(null);
    await redis.restart();
    await expect.poll(async () => (await request(server, 'POST', '/run', { code: 'add(1,1)' }, { prefer: 'wait=10' })).status, { timeout: 20_000, interval: 200 }).toBe(200);
    expect(server.logs.some((l) => l.msg === 'reconnected to Redis')).toBe(true);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  }, 60_000);
});

describe('starting without Redis', () => {
  it('exits 1 with a message that names REDIS_URL', async () => {
    const port = await freePort();
    const started = startServer({ STORE: 'redis', REDIS_URL: `redis://:secret@127.0.0.1:${port}` });
    await expect(started).rejects.toThrow(/exited with 1: .*cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+.*REDIS_URL/s);
    await expect(started).rejects.not.toThrow(/secret/);
  }, 30_000);
});
