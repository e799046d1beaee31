// RedisDevice as replicas in one process: cross-replica waits and cancels, and Redis coming and going.
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { RedisUnavailableError } from '../../../src/device/redis/connection.js';
import { RedisDevice } from '../../../src/device/redis/device.js';
import { createWorkerPool } from '../../../src/worker/pool.js';
import { freePort } from '../../support/free-port.js';
import { createModuleStore } from '../../../src/compose.js';
import type { StoredModule } from '../../../src/device/module-store.js';
import { loadConfig } from '../../../src/config.js';
import { loadFixture } from '../../support/fixtures.js';
import { buildRedisTestApp } from '../../support/redis-app.js';
import type { RedisTestApp } from '../../support/redis-app.js';
import { startRedis } from '../../support/redis-server.js';
import type { RedisServer } from '../../support/redis-server.js';

let redis: RedisServer;
let fixture: StoredModule;
const open: RedisTestApp[] = [];

beforeAll(async () => {
  [redis, fixture] = await Promise.all([startRedis(), loadFixture('lifecycle')]);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});
afterAll(async () => {
  await redis.stop('SIGTERM');
});

/** `n` replicas of one cluster (a shared prefix), one thread each. */
async function cluster(n: number, prefix: string): Promise<RedisTestApp[]> {
  const replicas = await Promise.all(Array.from({ length: n }, () => buildRedisTestApp({ poolThreads: 1 }, { redisUrl: redis.url, prefix, module: fixture })));
  open.push(...replicas);
  return replicas;
}

async function until(predicate: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await predicate())) await new Promise((r) => setTimeout(r, 5));
}

describe('replicas of one cluster', () => {
  it('release a waiter on one replica when a job settles on another, and cancel a job running on another', async () => {
    const [a, b] = await cluster(2, 'c1');
    const { job: spin } = await a!.device.submit({ code: 'spin()' });
    await until(() => a!.device.running + b!.device.running === 1);
    const runner = a!.device.running === 1 ? a! : b!;
    expect((await b!.device.get(spin.id))?.status).toBe('running');
    const canceller = runner === a ? b! : a!;
    const waiting = canceller.device.waitFor(spin, 60_000);
    const cancelled = await canceller.device.cancel(spin.id);
    expect(cancelled).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_CANCELLED' } });
    expect(await waiting).toMatchObject({ id: spin.id, status: 'cancelled' });
    // The runner heard of it and stopped its thread.
    await until(() => runner.device.running === 0);
    const { job } = await runner.device.submit({ code: 'add(2,3)' });
    expect(await canceller.device.waitFor(job, 15_000)).toMatchObject({ status: 'completed', results: [5] });

    // Metrics are per replica: the cancel is counted where it was made, each completion where the job ran.
    const count = async (t: RedisTestApp, status: string): Promise<number> => {
      const line = (await t.registry.getSingleMetricAsString('wasm64_jobs_total')).split('\n').find((l) => l.includes(`status="${status}"`));
      return line === undefined ? 0 : Number(line.split(' ').at(-1));
    };
    expect(await count(canceller, 'cancelled')).toBe(1);
    expect(await count(runner, 'cancelled')).toBe(0);
    expect((await count(a!, 'completed')) + (await count(b!, 'completed'))).toBe(1);
  });

  it('run, on any replica, a module uploaded to one', async () => {
    const [a, b] = await cluster(2, 'c5');
    const wat = '(module (func (export "answer") (result i64) (i64.const 42)))';
    const uploaded = await a!.app.inject({ method: 'POST', url: '/~wasm64@1.0/modules', payload: { wat } });
    expect(uploaded.statusCode).toBe(201);
    const moduleId = uploaded.json().module_id as string;
    // b has never seen it: it reads the bytes from Redis and compiles them, for a description and for jobs.
    expect((await b!.app.inject({ url: `/~wasm64@1.0/modules/${moduleId}` })).json()).toMatchObject({ module_id: moduleId, exports: [{ name: 'answer' }] });
    const jobs = await Promise.all([0, 1, 2, 3].map(async () => (await b!.device.submit({ module_id: moduleId, code: 'answer()' })).job));
    for (const job of jobs) expect(await a!.device.waitFor(job, 15_000)).toMatchObject({ status: 'completed', results: [42], moduleId });
  });

  it('share one queue limit (POOL_MAX_QUEUE) across the cluster', async () => {
    const replicas = await Promise.all(
      [0, 1].map(() => buildRedisTestApp({ poolThreads: 1, poolMaxQueue: 2 }, { redisUrl: redis.url, prefix: 'c2', module: fixture })),
    );
    open.push(...replicas);
    const [a, b] = replicas;
    const spins = [(await a!.device.submit({ code: 'spin()' })).job, (await b!.device.submit({ code: 'spin()' })).job];
    await until(async () => (await Promise.all(spins.map((s) => a!.device.get(s.id)))).every((j) => j?.status === 'running'));
    await a!.device.submit({ code: 'add(1,1)' });
    await b!.device.submit({ code: 'add(1,1)' });
    await expect(a!.device.submit({ code: 'add(1,1)' })).rejects.toMatchObject({ code: 'WASM64_QUEUE_FULL' });
    await expect(b!.device.submit({ code: 'add(1,1)' })).rejects.toMatchObject({ code: 'WASM64_QUEUE_FULL' });
    expect(a!.device.queued).toBe(2);
    for (const s of spins) await a!.device.cancel(s.id);
  });
});

describe('a replica killed while admitting a job', () => {
  it('leaves a queued job BullMQ never got, which the next replica to start fails and takes out of the queue', async () => {
    const client = new Redis(redis.url);
    try {
      // What the admission script writes, without the BullMQ job that would have followed.
      const orphan = async (id: string, createdAt: number): Promise<void> => {
        await client.hset(`c4:job:${id}`, { id, seq: 1, status: 'queued', createdAt, moduleId: fixture.id, function: 'add', parameters: '[1,1]', timeoutMs: 1000 });
        await client.zadd('c4:index', 1, id);
        await client.sadd('c4:queued', id);
      };
      await orphan('old-orphan', Date.now() - 120_000);
      await orphan('just-admitted', Date.now());
      const [t] = await cluster(1, 'c4');
      expect(await t!.device.get('old-orphan')).toMatchObject({ status: 'failed', error: { code: 'WASM64_STORE_UNAVAILABLE' } });
      // One being admitted right now (its BullMQ job a round trip away) is left alone.
      expect((await t!.device.get('just-admitted'))?.status).toBe('queued');
      expect(await client.smembers('c4:queued')).toEqual(['just-admitted']);
    } finally {
      client.disconnect();
    }
  });
});

describe('Redis availability', () => {
  it('fails to start with RedisUnavailableError naming the URL when Redis is not there', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const pool = createWorkerPool({ threads: 1, maxQueue: 2 });
    try {
      const starting = RedisDevice.start({
        url,
        prefix: 'x',
        pool,
        modules: createModuleStore(loadConfig({}), fixture),
        maxModules: 10,
        logger: pino({ level: 'silent' }),
        maxQueue: 10,
        maxJobs: 10,
        ttlMs: 1000,
        defaultTimeoutMs: 1000,
        maxTimeoutMs: 1000,
        lockMs: 1000,
      });
      await expect(starting).rejects.toBeInstanceOf(RedisUnavailableError);
      await expect(starting).rejects.toThrow(url);
    } finally {
      await pool.destroy();
    }
  });

  it('answers 503 while Redis is away, reports the store unavailable, and recovers when it is back', async () => {
    const [t] = await cluster(1, 'c3');
    const { job } = await t!.device.submit({ code: 'add(1,1)' });
    await t!.device.waitFor(job, 15_000);
    expect(t!.device.storeAvailable).toBe(true);
    expect((await t!.app.inject({ url: '/readyz' })).statusCode).toBe(200);
    await redis.stop('SIGKILL');
    await until(() => !t!.device.storeAvailable);
    const notReady = await t!.app.inject({ url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json()).toMatchObject({ code: 'WASM64_NOT_READY', checks: { store: false, accepting: true, workers: true } });
    expect(await t!.registry.getSingleMetricAsString('wasm64_store_up')).toMatch(/^wasm64_store_up 0$/m);
    expect((await t!.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    const res = await t!.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', payload: { code: 'add(1,1)' } });
    expect([res.statusCode, res.json().code, res.headers['retry-after']]).toEqual([503, 'WASM64_STORE_UNAVAILABLE', '1']);
    expect((await t!.app.inject({ method: 'GET', url: `/~wasm64@1.0/status/${job.id}` })).statusCode).toBe(503);
    expect((await t!.app.inject({ method: 'POST', url: `/~wasm64@1.0/cancel/${job.id}` })).statusCode).toBe(503);
    await redis.restart();
    await until(() => t!.device.storeAvailable);
    expect((await t!.app.inject({ url: '/readyz' })).json()).toMatchObject({ status: 'ready', checks: { store: true } });
    const again = await t!.device.submit({ code: 'add(20,22)' });
    expect(await t!.device.waitFor(again.job, 15_000)).toMatchObject({ status: 'completed', results: [42] });
  }, 30_000);
});

describe('waits', () => {
  it('stop listening for their client once, whether the job settles or the client was already gone', async () => {
    const [t] = await cluster(1, 'w1');
    const { job } = await t!.device.submit({ code: 'add(2,3)' });
    let stops = 0;
    const settled = await t!.device.waitFor(job, 15_000, () => () => void stops++);
    expect(settled).toMatchObject({ status: 'completed', results: [5] });
    expect(stops).toBe(1);

    const { job: spin } = await t!.device.submit({ code: 'spin()' });
    const gone = await t!.device.waitFor(spin, 15_000, (end) => {
      end();
      return () => void stops++;
    });
    expect(['queued', 'running']).toContain(gone.status);
    expect(stops).toBe(2);
    expect(t!.device.waiting).toBe(0);
    await t!.device.cancel(spin.id);
  });
});
