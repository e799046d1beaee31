// Every route behaves the same with STORE=memory and STORE=redis: the same scenarios, run against both devices.
import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../src/config.js';
import type { JobDevice } from '../../src/device/job-device.js';
import { RedisDevice } from '../../src/device/redis/device.js';
import type { StoredModule } from '../../src/device/module-store.js';
import { loadFixture } from '../support/fixtures.js';
import { buildRedisTestApp } from '../support/redis-app.js';
import { startRedis } from '../support/redis-server.js';
import type { RedisServer } from '../support/redis-server.js';
import { buildTestApp } from '../support/test-app.js';

const P = '/~wasm64@1.0';
type Body = Record<string, any>;
type Mode = 'memory' | 'redis';

interface Started {
  app: FastifyInstance;
  device: JobDevice;
  close(): Promise<void>;
}

let redis: RedisServer;
let fixture: StoredModule;
const open: Started[] = [];

beforeAll(async () => {
  [redis, fixture] = await Promise.all([startRedis(), loadFixture('lifecycle')]);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});
afterAll(async () => {
  await redis.stop('SIGTERM');
});

/** An app on the lifecycle fixture with one thread, in `mode`; closed after each test. */
async function start(mode: Mode, overrides: Partial<Config> = {}, prefix?: string): Promise<Started> {
  const config = { poolThreads: 1, ...overrides };
  const t =
    mode === 'memory'
      ? await buildTestApp(config, { module: fixture })
      : await buildRedisTestApp(config, { redisUrl: redis.url, module: fixture, ...(prefix === undefined ? {} : { prefix }) });
  open.push(t);
  return t;
}

async function call(t: Started, method: 'GET' | 'POST', url: string, payload?: object, headers: Record<string, string> = {}) {
  const res = await t.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });
  return { status: res.statusCode, body: res.json<Body>(), headers: res.headers };
}
const run = (t: Started, body: object, headers?: Record<string, string>) => call(t, 'POST', `${P}/run`, body, headers);
const status = (t: Started, id: string, wait?: number) => call(t, 'GET', `${P}/status/${id}${wait === undefined ? '' : `?wait=${wait}`}`);
const cancel = (t: Started, id: string) => call(t, 'POST', `${P}/cancel/${id}`);

async function submit(t: Started, body: object): Promise<string> {
  const res = await run(t, body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id as string;
}

async function settled(t: Started, id: string): Promise<Body> {
  const res = await status(t, id, 15);
  expect(['completed', 'failed', 'cancelled']).toContain(res.body.status);
  return res.body;
}

/** Resolves once `predicate` holds (for states the device reaches on its own). */
async function until(predicate: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await predicate())) await new Promise((r) => setTimeout(r, 5));
}

async function blockThread(t: Started): Promise<string> {
  const id = await submit(t, { code: 'spin()' });
  await until(async () => (await t.device.get(id))?.status === 'running');
  return id;
}

const ids = (page: Body): string[] => (page.jobs as Body[]).map((j) => j.id as string);

describe.each<Mode>(['memory', 'redis'])('STORE=%s', (mode) => {
  it('runs a job queued → running → completed, stamped, and answers Prefer: wait with 200', async () => {
    const t = await start(mode);
    const done = await settled(t, await submit(t, { code: 'add(2,3)' }));
    expect(done).toMatchObject({ status: 'completed', result: 5, results: [5], function: 'add', parameters: [2, 3] });
    expect(done.module_id).toBe(fixture.id);
    const [created, started, finished] = [done.created_at, done.started_at, done.finished_at].map((s) => Date.parse(s as string));
    expect(created).toBeLessThanOrEqual(started!);
    expect(started).toBeLessThanOrEqual(finished!);
    const waited = await run(t, { function: 'add', parameters: ['9007199254740993', 1] }, { prefer: 'wait=10' });
    expect(waited.status).toBe(200);
    expect(waited.body).toMatchObject({ status: 'completed', result: '9007199254740994' });
  });

  it('runs modules sent inline or uploaded, under their memory limit and fuel', async () => {
    const t = await start(mode);
    const grower = await readFile(new URL('../fixtures/grower64.wat', import.meta.url), 'utf8');
    const limit = 2 * 65_536;
    expect(await settled(t, await submit(t, { wat: grower, code: 'grow(1)', memory_limit: limit }))).toMatchObject({ status: 'completed', result: 1, memory_limit: limit });
    expect(await settled(t, await submit(t, { wat: grower, code: 'grow(2)', memory_limit: limit }))).toMatchObject({ status: 'failed', error: { code: 'WASM64_MEMORY_LIMIT' } });
    // The jobs above stored the module: uploading it again finds it (200, not 201).
    const uploaded = await call(t, 'POST', `${P}/modules`, { wat: grower });
    expect(uploaded.status).toBe(200);
    const moduleId = uploaded.body.module_id as string;
    expect((await call(t, 'GET', `${P}/modules/${moduleId}`)).body).toMatchObject({ module_id: moduleId, exports: expect.arrayContaining([expect.objectContaining({ name: 'pages' })]) });
    expect(await settled(t, await submit(t, { module_id: moduleId, code: 'pages()' }))).toMatchObject({ status: 'completed', result: 1, module_id: moduleId });
    const metered = await settled(t, await submit(t, { code: 'spin()', fuel: 5000 }));
    expect(metered).toMatchObject({ status: 'failed', fuel: 5000, fuel_used: 5000, error: { code: 'WASM64_FUEL_EXHAUSTED' } });
    expect(await run(t, { module_id: `sha256:${'0'.repeat(64)}`, code: 'pages()' })).toMatchObject({ status: 404, body: { code: 'WASM64_MODULE_NOT_FOUND' } });
  });

  it('ends traps, timeouts and cancels with their codes, and the replaced thread serves the next job', async () => {
    const t = await start(mode, { poolMaxQueue: 10 });
    expect(await settled(t, await submit(t, { code: 'boom()' }))).toMatchObject({ status: 'failed', error: { code: 'WASM64_TRAP' } });
    const timedOut = await settled(t, await submit(t, { code: 'spin()', timeout_ms: 100 }));
    expect(timedOut).toMatchObject({ status: 'failed', timeout_ms: 100, error: { code: 'WASM64_TIMEOUT' } });
    expect(Date.parse(timedOut.finished_at) - Date.parse(timedOut.started_at)).toBeGreaterThanOrEqual(100);

    const spin = await blockThread(t);
    const behind = await submit(t, { code: 'add(1,1)' });
    const queued = await cancel(t, behind);
    expect(queued.body).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_CANCELLED' } });
    expect(queued.body.started_at).toBeUndefined();
    expect((await cancel(t, spin)).body).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_CANCELLED' } });
    expect(await settled(t, await submit(t, { code: 'add(20,22)' }))).toMatchObject({ status: 'completed', result: 42 });
    expect((await status(t, behind)).body.status).toBe('cancelled');

    expect(await cancel(t, spin)).toMatchObject({ status: 409, body: { code: 'WASM64_JOB_FINISHED' } });
    expect(await cancel(t, 'no-such-job')).toMatchObject({ status: 404, body: { code: 'WASM64_JOB_NOT_FOUND' } });
    expect(await status(t, 'no-such-job')).toMatchObject({ status: 404, body: { code: 'WASM64_JOB_NOT_FOUND' } });
  });

  it('ends a long poll when the job completes, and on its deadline with the job as it is', async () => {
    const t = await start(mode);
    const spin = await blockThread(t);
    expect((await status(t, spin, 0.2)).body).toMatchObject({ id: spin, status: 'running' });
    const add = await submit(t, { code: 'add(2,3)' });
    const poll = status(t, add, 60);
    await until(() => t.device.waiting === 1);
    await cancel(t, spin);
    // 60 s is longer than this test may take: it passes only if the poll ends on completion.
    expect((await poll).body).toMatchObject({ status: 'completed', result: 5 });
    expect(t.device.waiting).toBe(0);
  });

  it('honours Idempotency-Key: the same job for the same body, 422 for another, nothing claimed by a refusal', async () => {
    const t = await start(mode, { poolMaxQueue: 1 });
    const headers = { 'idempotency-key': `order-${mode}` };
    const first = await run(t, { function: 'add', parameters: [2, 3] }, headers);
    const again = await run(t, { parameters: [2, 3], function: 'add' }, headers);
    expect([first.status, again.status, again.body.id]).toEqual([202, 202, first.body.id]);
    expect([first.headers['idempotent-replayed'], again.headers['idempotent-replayed']]).toEqual([undefined, 'true']);
    expect((await run(t, { code: 'add(2,4)' }, headers)).body.code).toBe('WASM64_IDEMPOTENCY_MISMATCH');
    // Even a request that is itself invalid is a mismatch first, as a retry with a changed body would be.
    expect((await run(t, { code: 'add(2' }, headers)).body.code).toBe('WASM64_IDEMPOTENCY_MISMATCH');
    await settled(t, first.body.id as string);

    await blockThread(t);
    let refused: Awaited<ReturnType<typeof run>> | undefined;
    for (let i = 0; i < 5 && refused === undefined; i++) {
      const res = await run(t, { code: 'add(1,1)' });
      if (res.status === 429) refused = res;
    }
    const before = (await call(t, 'GET', `${P}/jobs?limit=1000`)).body.jobs.length;
    const full = await run(t, { code: 'add(7,7)' }, { 'idempotency-key': 'refused-1' });
    expect([full.status, full.body.code, full.headers['retry-after']]).toEqual([429, 'WASM64_QUEUE_FULL', '1']);
    expect((await call(t, 'GET', `${P}/jobs?limit=1000`)).body.jobs).toHaveLength(before);
  });

  it('lists newest first with a cursor, filtered by status', async () => {
    const t = await start(mode, { poolThreads: 2 });
    const submitted: string[] = [];
    for (const code of ['add(1,1)', 'boom()', 'add(2,2)', 'boom()', 'add(3,3)']) submitted.push(await submit(t, { code }));
    for (const id of submitted) await settled(t, id);
    const page1 = (await call(t, 'GET', `${P}/jobs?limit=2`)).body;
    expect(ids(page1)).toEqual([submitted[4], submitted[3]]);
    const page2 = (await call(t, 'GET', `${P}/jobs?limit=2&cursor=${page1.next_cursor}`)).body;
    expect(ids(page2)).toEqual([submitted[2], submitted[1]]);
    const page3 = (await call(t, 'GET', `${P}/jobs?limit=2&cursor=${page2.next_cursor}`)).body;
    expect(page3).toMatchObject({ jobs: [{ id: submitted[0] }], next_cursor: null });
    const failed = (await call(t, 'GET', `${P}/jobs?status=failed`)).body;
    expect(ids(failed)).toEqual([submitted[3], submitted[1]]);
    expect(failed.jobs[0]).toMatchObject({ status: 'failed', error: { code: 'WASM64_TRAP' } });
  });

  it('evicts the oldest finished jobs to stay within JOB_STORE_MAX, never a live one', async () => {
    const t = await start(mode, { jobStoreMax: 3, poolMaxQueue: 10 });
    const spin = await blockThread(t);
    const a = await submit(t, { code: 'add(1,1)' });
    const b = await submit(t, { code: 'add(2,2)' });
    expect((await run(t, { code: 'add(3,3)' })).body.code).toBe('WASM64_QUEUE_FULL');
    await cancel(t, b);
    const c = await submit(t, { code: 'add(3,3)' }); // evicts b, the only finished job
    expect((await status(t, b)).status).toBe(404);
    await cancel(t, spin);
    await settled(t, a);
    await settled(t, c);
    const d = await submit(t, { code: 'add(4,4)' }); // evicts spin, the oldest finished
    expect((await status(t, spin)).status).toBe(404);
    expect((await settled(t, d)).result).toBe(8);
    expect(ids((await call(t, 'GET', `${P}/jobs`)).body)).toEqual([d, c, a]);
  });

  it('expires finished jobs JOB_TTL_MS after they finished', async () => {
    const t = await start(mode, { jobTtlMs: 2000 });
    const id = await submit(t, { code: 'add(2,3)' });
    await settled(t, id);
    expect((await status(t, id)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2200));
    expect((await status(t, id)).body.code).toBe('WASM64_JOB_NOT_FOUND');
    expect((await call(t, 'GET', `${P}/jobs`)).body.jobs).toHaveLength(0);
  });

  it('tells observers when a job is queued, started and settled', async () => {
    const t = await start(mode);
    const seen: string[] = [];
    t.device.on('queued', (job) => seen.push(`queued ${job.status}`));
    t.device.on('started', (job, wait) => seen.push(`started ${job.status} ${wait >= 0}`));
    t.device.on('settled', (job) => seen.push(`settled ${job.status} ${job.error?.code ?? ''} ${typeof job.durationMs}`));
    await settled(t, await submit(t, { code: 'boom()' }));
    await until(() => seen.length === 3);
    expect(seen).toEqual(['queued queued', 'started running true', 'settled failed WASM64_TRAP number']);
  });

  it('on close refuses runs with 503 and cancels running jobs after the grace period', async () => {
    const t = await start(mode, { poolMaxQueue: 10 });
    const spin = await blockThread(t);
    const queued = await submit(t, { code: 'add(1,1)' });
    const closing = t.device.close(200);
    expect(await run(t, { code: 'add(1,1)' })).toMatchObject({ status: 503, body: { code: 'WASM64_SHUTTING_DOWN' } });
    await closing;
    // Read what the device recorded, through a fresh replica in redis mode (the closed one has let go of Redis).
    const reader = t.device instanceof RedisDevice ? await start(mode, {}, t.device.prefix) : t;
    expect((await status(reader, spin)).body).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_SHUTDOWN' } });
    if (mode === 'memory') {
      expect((await status(t, queued)).body).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_SHUTDOWN' } });
    } else {
      // The queue belongs to the cluster: a job queued when one replica stops is run by another.
      expect(await settled(reader, queued)).toMatchObject({ status: 'completed', result: 2 });
    }
  });

  it('brings 300 concurrent submissions to a terminal state', async () => {
    const t = await start(mode, { poolThreads: 2 });
    const bodies = Array.from({ length: 300 }, (_, i) => (i % 10 === 0 ? { code: 'boom()' } : { code: `add(${i},1)` }));
    const answers = await Promise.all(bodies.map((body) => run(t, body)));
    expect(answers.every((a) => a.status === 202)).toBe(true);
    const jobs = await Promise.all(answers.map((a) => settled(t, a.body.id as string)));
    jobs.forEach((job, i) => {
      if (i % 10 === 0) expect(job.error.code).toBe('WASM64_TRAP');
      else expect(job).toMatchObject({ status: 'completed', result: i + 1 });
    });
    await until(() => t.device.running === 0);
    expect([t.device.running, t.device.waiting]).toEqual([0, 0]);
  }, 60_000);
});

describe('STORE=redis without instances', () => {
  it('answers 501 WASM64_INSTANCES_UNAVAILABLE on the instance routes and for a run on an instance', async () => {
    const t = await start('redis');
    expect(t.device.instances).toBeUndefined();
    expect(await call(t, 'GET', `${P}/instances`)).toMatchObject({ status: 501, body: { code: 'WASM64_INSTANCES_UNAVAILABLE' } });
    expect(await call(t, 'POST', `${P}/instances`, { wat: '(module)' })).toMatchObject({ status: 501, body: { code: 'WASM64_INSTANCES_UNAVAILABLE' } });
    expect(await run(t, { instance_id: 'any', message: {} })).toMatchObject({ status: 501, body: { code: 'WASM64_INSTANCES_UNAVAILABLE' } });
    expect(await run(t, { code: 'add(1,1)', message: {} })).toMatchObject({ status: 400, body: { code: 'WASM64_INSTANCE_CONFLICT' } });
  });
});
