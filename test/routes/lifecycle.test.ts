// The job lifecycle through the routes, on a real pool running test/fixtures/lifecycle.wat.
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StoredModule } from '../../src/device/module-store.js';
import type { Config } from '../../src/config.js';
import { loadFixture } from '../support/fixtures.js';
import { buildTestApp } from '../support/test-app.js';
import type { TestApp, TestAppOptions } from '../support/test-app.js';

const P = '/~wasm64@1.0';
type Body = Record<string, any>;
interface Answer {
  status: number;
  body: Body;
  headers: Record<string, any>;
}

let fixture: StoredModule;
const apps: TestApp[] = [];

beforeAll(async () => {
  fixture = await loadFixture('lifecycle');
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((t) => t.close()));
});

/** A fresh app running the fixture module, one thread unless asked otherwise; closed after each test. */
async function start(overrides: Partial<Config> = {}, options: TestAppOptions = {}): Promise<TestApp> {
  const t = await buildTestApp({ poolThreads: 1, ...overrides }, { module: fixture, ...options });
  apps.push(t);
  return t;
}

async function call(t: TestApp, method: 'GET' | 'POST', url: string, payload?: object, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await t.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });
  return { status: res.statusCode, body: res.json(), headers: res.headers };
}

const run = (t: TestApp, body: object, headers?: Record<string, string>): Promise<Answer> => call(t, 'POST', `${P}/run`, body, headers);
const status = (t: TestApp, id: string, wait?: number): Promise<Answer> =>
  call(t, 'GET', `${P}/status/${id}${wait === undefined ? '' : `?wait=${wait}`}`);
const cancel = (t: TestApp, id: string): Promise<Answer> => call(t, 'POST', `${P}/cancel/${id}`);

/** Submits and returns the new job's id (asserting the 202). */
async function submit(t: TestApp, body: object): Promise<string> {
  const res = await run(t, body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id as string;
}

/** Waits (by long poll, no loop) until the job is terminal. */
async function settled(t: TestApp, id: string): Promise<Body> {
  const res = await status(t, id, 15);
  expect(['completed', 'failed', 'cancelled']).toContain(res.body.status);
  return res.body;
}

/** Resolves once `predicate` holds; for states the device reaches on its own (a job getting its thread). */
async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((r) => setTimeout(r, 2));
}

/** A thread stuck in `spin` and the job id; with one thread, every later job waits behind it. */
async function blockThread(t: TestApp, body: object = { code: 'spin()' }): Promise<string> {
  const id = await submit(t, body);
  await until(() => t.device.get(id)?.status === 'running');
  return id;
}

describe('states and transitions', () => {
  it('queued → running → completed, each with its timestamp, and a running job → cancelled', async () => {
    const t = await start();
    const spin = await blockThread(t);
    const add = await submit(t, { code: 'add(2,3)' });
    const queued = (await status(t, add)).body;
    expect(queued).toMatchObject({ status: 'queued', timeout_ms: 30_000 });
    expect(queued.started_at).toBeUndefined();
    const running = (await status(t, spin)).body;
    expect(running.status).toBe('running');
    expect(Date.parse(running.started_at)).toBeGreaterThanOrEqual(Date.parse(running.created_at));
    expect([t.device.running, t.device.queued]).toEqual([1, 1]);

    const cancelled = await cancel(t, spin);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ id: spin, status: 'cancelled', error: { code: 'WASM64_CANCELLED' } });
    // duration_ms is wasm execution time as the worker measured it; an aborted task never reports one.
    expect(cancelled.body.duration_ms).toBeUndefined();
    expect(Date.parse(cancelled.body.finished_at)).toBeGreaterThanOrEqual(Date.parse(running.started_at));

    const done = await settled(t, add);
    expect(done).toMatchObject({ status: 'completed', result: 5 });
    const [created, started, finished] = [done.created_at, done.started_at, done.finished_at].map((s) => Date.parse(s as string));
    expect(created).toBeLessThanOrEqual(started!);
    expect(started).toBeLessThanOrEqual(finished!);
    expect(done.error).toBeUndefined();
  });

  it('cancels queued jobs at once, wherever they wait, and the pool serves the next job after a running one is cancelled', async () => {
    const t = await start({ poolMaxQueue: 10 });
    const spin = await blockThread(t);
    const behind = await submit(t, { code: 'add(1,1)' }); // handed to Piscina, waiting for the thread
    const later = await submit(t, { code: 'add(2,2)' }); // still in the device's own queue
    expect(t.device.queued).toBe(2);
    for (const id of [later, behind]) {
      const res = await cancel(t, id);
      expect(res.body).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_CANCELLED' } });
      expect(res.body.started_at).toBeUndefined();
    }
    expect((await cancel(t, spin)).body.status).toBe('cancelled');
    // The spinning thread was terminated and replaced: the next job runs to completion.
    expect(await settled(t, await submit(t, { code: 'add(20,22)' }))).toMatchObject({ status: 'completed', result: 42 });
    expect((await status(t, behind)).body.status).toBe('cancelled');
    expect([t.device.running, t.device.queued]).toEqual([0, 0]);
  });

  it('ends a trapping job failed with WASM64_TRAP', async () => {
    const t = await start();
    expect(await settled(t, await submit(t, { code: 'boom()' }))).toMatchObject({
      status: 'failed',
      error: { code: 'WASM64_TRAP', message: 'unreachable' },
    });
  });

  it('ends a job that runs past timeout_ms failed with WASM64_TIMEOUT, and serves the next job', async () => {
    const t = await start();
    const spin = await submit(t, { code: 'spin()', timeout_ms: 100 });
    const job = await settled(t, spin);
    expect(job).toMatchObject({ status: 'failed', timeout_ms: 100, error: { code: 'WASM64_TIMEOUT' } });
    expect(Date.parse(job.finished_at) - Date.parse(job.started_at)).toBeGreaterThanOrEqual(100);
    expect(await settled(t, await submit(t, { code: 'add(1,2)' }))).toMatchObject({ status: 'completed', result: 3 });
  });

  it('applies the default timeout (DEFAULT_TIMEOUT_MS), counted from when the job got a thread', async () => {
    const t = await start({ jobTimeoutMs: 150 });
    const first = await submit(t, { code: 'spin()' });
    const second = await submit(t, { code: 'spin()' });
    expect((await settled(t, first)).error.code).toBe('WASM64_TIMEOUT');
    // The second waited behind the first for its whole timeout, yet got its own full timeout once it ran.
    const job = await settled(t, second);
    expect(job.error.code).toBe('WASM64_TIMEOUT');
    expect(Date.parse(job.finished_at) - Date.parse(job.started_at)).toBeGreaterThanOrEqual(150);
  });

  it('refuses timeout_ms above MAX_TIMEOUT_MS with 400 and creates nothing', async () => {
    const t = await start({ jobTimeoutMs: 1000, jobTimeoutMaxMs: 1000 });
    const res = await run(t, { code: 'add(1,1)', timeout_ms: 1001 });
    expect([res.status, res.body.code]).toEqual([400, 'WASM64_TIMEOUT_TOO_LONG']);
    expect((await run(t, { code: 'add(1,1)', timeout_ms: 0 })).body.code).toBe('WASM64_BAD_REQUEST');
    expect(t.store.size).toBe(0);
  });

  it('answers a cancel of a finished job with 409 WASM64_JOB_FINISHED and of an unknown one with 404', async () => {
    const t = await start();
    const id = await submit(t, { code: 'add(1,1)' });
    await settled(t, id);
    const res = await cancel(t, id);
    expect(res.status).toBe(409);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ code: 'WASM64_JOB_FINISHED', status: 409 });
    expect((await status(t, id)).body.status).toBe('completed');
    expect(await cancel(t, 'no-such-job')).toMatchObject({ status: 404, body: { code: 'WASM64_JOB_NOT_FOUND' } });
  });

  it('tells observers when a job is queued, started and settled', async () => {
    const t = await start();
    const seen: string[] = [];
    t.device.on('queued', (job) => seen.push(`queued ${job.status}`));
    t.device.on('started', (job, wait) => seen.push(`started ${job.status} ${wait >= 0}`));
    t.device.on('settled', (job) => seen.push(`settled ${job.status} ${job.error?.code ?? ''} ${typeof job.durationMs}`));
    await settled(t, await submit(t, { code: 'boom()' }));
    expect(seen).toEqual(['queued queued', 'started running true', 'settled failed WASM64_TRAP number']);
  });
});

describe('waiting', () => {
  it('ends a long poll early, when the job completes', async () => {
    const t = await start();
    const spin = await blockThread(t);
    const add = await submit(t, { code: 'add(2,3)' });
    const poll = status(t, add, 60);
    await until(() => t.device.waiting === 1);
    await cancel(t, spin);
    // The poll asked for 60 s, longer than this test may take: it can only pass by ending on completion.
    expect((await poll).body).toMatchObject({ status: 'completed', result: 5 });
    expect(t.device.waiting).toBe(0);
  });

  it('ends a long poll on its deadline with the job as it is', async () => {
    const t = await start();
    const spin = await blockThread(t);
    const res = await status(t, spin, 0.2);
    expect(res).toMatchObject({ status: 200, body: { id: spin, status: 'running' } });
    expect(t.device.waiting).toBe(0);
  });

  it('caps a long poll at WAIT_MAX_SECONDS and refuses a malformed wait', async () => {
    const t = await start({ waitMaxSeconds: 0 });
    const spin = await blockThread(t);
    expect((await status(t, spin, 3600)).body.status).toBe('running');
    expect((await call(t, 'GET', `${P}/status/${spin}?wait=soon`)).body.code).toBe('WASM64_BAD_REQUEST');
    expect((await call(t, 'GET', `${P}/status/${spin}?wait=-1`)).body.code).toBe('WASM64_BAD_REQUEST');
  });

  it('answers at once, without waiting, beyond WAIT_MAX_CLIENTS waiting requests', async () => {
    const t = await start({ waitMaxClients: 1 });
    const spin = await blockThread(t);
    const first = status(t, spin, 60);
    await until(() => t.device.waiting === 1);
    expect((await status(t, spin, 60)).body.status).toBe('running');
    expect(t.device.waiting).toBe(1);
    await cancel(t, spin);
    expect((await first).body.status).toBe('cancelled');
  });

  it('answers Prefer: wait with 200 and the finished job when it ends in time', async () => {
    const t = await start();
    const res = await run(t, { code: 'add(2,3)' }, { prefer: 'wait=10' });
    expect(res.status).toBe(200);
    expect(res.headers['preference-applied']).toBe('wait=10');
    expect(res.headers.location).toBe(`${P}/status/${res.body.id}`);
    expect(res.body).toMatchObject({ status: 'completed', result: 5, results: [5] });
  });

  it('answers Prefer: wait with 202 when the job does not end in time, capped at WAIT_MAX_SECONDS', async () => {
    const t = await start({ waitMaxSeconds: 1 });
    const res = await run(t, { code: 'spin()' }, { prefer: 'respond-async, wait=100' });
    expect(res.status).toBe(202);
    expect(res.headers['preference-applied']).toBe('wait=1');
    expect(res.body).toMatchObject({ status: 'running', status_url: `${P}/status/${res.body.id}` });
    const asyncOnly = await run(t, { code: 'add(1,1)' }, { prefer: 'respond-async' });
    expect([asyncOnly.status, asyncOnly.headers['preference-applied']]).toEqual([202, 'respond-async']);
    const ignored = await run(t, { code: 'add(1,1)' }, { prefer: 'wait=soon, handling=lenient' });
    expect([ignored.status, ignored.headers['preference-applied']]).toEqual([202, undefined]);
  });

  it('stops waiting when the client disconnects', async () => {
    const t = await start();
    const spin = await blockThread(t);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.app.server.address() as AddressInfo;
    const req = httpRequest({ host: '127.0.0.1', port, path: `${P}/status/${spin}?wait=60` });
    req.on('error', () => {});
    req.end();
    await until(() => t.device.waiting === 1);
    req.destroy();
    await until(() => t.device.waiting === 0);
    expect(t.device.get(spin)?.status).toBe('running');
  });

  it('ends every wait when the app closes, so a long poll never holds up a shutdown', async () => {
    const t = await start();
    const spin = await blockThread(t);
    const poll = status(t, spin, 60);
    await until(() => t.device.waiting === 1);
    await t.app.close();
    expect((await poll).body.status).toBe('running');
    expect(t.device.waiting).toBe(0);
  });
});

describe('idempotency', () => {
  it('returns the same job for the same key and the same body, in any key order', async () => {
    const t = await start();
    const headers = { 'idempotency-key': 'order-1234' };
    const first = await run(t, { function: 'add', parameters: [2, 3] }, headers);
    const again = await run(t, { parameters: [2, 3], function: 'add' }, headers);
    expect(first.status).toBe(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(t.store.size).toBe(1);
    const other = await run(t, { function: 'add', parameters: [2, 3] }, { 'idempotency-key': 'order-5678' });
    expect(other.body.id).not.toBe(first.body.id);
  });

  it('creates one job for many concurrent requests with the same key', async () => {
    const t = await start();
    const answers = await Promise.all(Array.from({ length: 20 }, () => run(t, { code: 'add(2,3)' }, { 'idempotency-key': 'burst' })));
    expect(new Set(answers.map((a) => a.body.id as string)).size).toBe(1);
    expect(answers.filter((a) => a.headers['idempotent-replayed'] === 'true')).toHaveLength(19);
    expect(t.store.size).toBe(1);
  });

  it('refuses the same key with a different body with 422 WASM64_IDEMPOTENCY_MISMATCH and creates nothing', async () => {
    const t = await start();
    const headers = { 'idempotency-key': 'k-1' };
    await run(t, { code: 'add(2,3)' }, headers);
    const res = await run(t, { code: 'add(2,4)' }, headers);
    expect(res.status).toBe(422);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('WASM64_IDEMPOTENCY_MISMATCH');
    expect(t.store.size).toBe(1);
    expect((await run(t, { code: 'add(1,1)' }, { 'idempotency-key': 'has space' })).body.code).toBe('WASM64_BAD_REQUEST');
  });
});

describe('backpressure and the bounded store', () => {
  it('answers 429 with Retry-After when the queue is full, and creates nothing', async () => {
    const t = await start({ poolMaxQueue: 2 });
    await blockThread(t);
    // One job ready behind the thread (threads × 2 with Piscina), then POOL_MAX_QUEUE in the device's queue.
    for (let i = 0; i < 3; i++) await submit(t, { code: 'add(1,1)' });
    const size = t.store.size;
    const res = await run(t, { code: 'add(1,1)' }, { 'idempotency-key': 'full-1' });
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.body.code).toBe('WASM64_QUEUE_FULL');
    expect(t.store.size).toBe(size);
    expect((await call(t, 'GET', `${P}/jobs?limit=1000`)).body.jobs).toHaveLength(size);
    // The refused key was not remembered: once there is room, the same request is accepted anew.
    const spin = t.device.list({ status: 'running', limit: 1 }).jobs[0]!;
    await cancel(t, spin.id);
    await until(() => t.device.queued < 2);
    expect((await run(t, { code: 'add(1,1)' }, { 'idempotency-key': 'full-1' })).headers['idempotent-replayed']).toBeUndefined();
  });

  it('evicts the oldest finished jobs to stay within MAX_JOBS, never a live one', async () => {
    const t = await start({ jobStoreMax: 3 });
    const spin = await blockThread(t);
    const a = await submit(t, { code: 'add(1,1)' }); // waits behind spin: live
    const b = await submit(t, { code: 'add(2,2)' }); // live
    // Three live jobs fill the store: nothing can be evicted, so the next run is refused.
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
    expect(t.store.size).toBe(3);
  });

  it('expires finished jobs after JOB_TTL_SECONDS on the device clock', async () => {
    const clock = { now: Date.parse('2030-01-01T00:00:00Z') };
    const t = await start({ jobTtlMs: 60_000 }, { now: () => clock.now });
    const id = await submit(t, { code: 'add(2,3)' });
    const job = await settled(t, id);
    expect(job.finished_at).toBe('2030-01-01T00:00:00.000Z');
    clock.now += 59_999;
    expect((await status(t, id)).status).toBe(200);
    expect((await call(t, 'GET', `${P}/jobs`)).body.jobs).toHaveLength(1);
    clock.now += 1;
    expect((await status(t, id)).body.code).toBe('WASM64_JOB_NOT_FOUND');
    expect((await call(t, 'GET', `${P}/jobs`)).body.jobs).toHaveLength(0);
  });
});

const ids = (page: Body): string[] => (page.jobs as Body[]).map((j) => j.id as string);

describe('GET /jobs', () => {
  it('lists newest first with an opaque cursor, filtered by status', async () => {
    const t = await start({ poolThreads: 2 });
    const submitted: string[] = [];
    for (const code of ['add(1,1)', 'boom()', 'add(2,2)', 'boom()', 'add(3,3)']) submitted.push(await submit(t, { code }));
    for (const id of submitted) await settled(t, id);
    const page1 = (await call(t, 'GET', `${P}/jobs?limit=2`)).body;
    expect(ids(page1)).toEqual([submitted[4], submitted[3]]);
    expect(page1.next_cursor).toBeTypeOf('string');
    const page2 = (await call(t, 'GET', `${P}/jobs?limit=2&cursor=${page1.next_cursor}`)).body;
    expect(ids(page2)).toEqual([submitted[2], submitted[1]]);
    const page3 = (await call(t, 'GET', `${P}/jobs?limit=2&cursor=${page2.next_cursor}`)).body;
    expect(page3).toMatchObject({ jobs: [{ id: submitted[0] }], next_cursor: null });
    const failed = (await call(t, 'GET', `${P}/jobs?status=failed`)).body;
    expect(ids(failed)).toEqual([submitted[3], submitted[1]]);
    expect(failed.jobs[0]).toMatchObject({ status: 'failed', error: { code: 'WASM64_TRAP' } });
  });

  it.each([
    ['cursor=bm9wZQ', 'WASM64_BAD_CURSOR'],
    ['cursor=!!', 'WASM64_BAD_CURSOR'],
    ['limit=0', 'WASM64_BAD_REQUEST'],
    ['limit=1001', 'WASM64_BAD_REQUEST'],
    ['status=done', 'WASM64_BAD_REQUEST'],
  ])('refuses ?%s with 400 %s', async (query, code) => {
    const t = await start();
    expect(await call(t, 'GET', `${P}/jobs?${query}`)).toMatchObject({ status: 400, body: { code } });
  });
});

describe('shutdown (device.close)', () => {
  it('refuses new runs, cancels queued jobs at once and running ones after the grace period', async () => {
    const t = await start({ poolMaxQueue: 10 });
    const spin = await blockThread(t);
    const queued = [await submit(t, { code: 'add(1,1)' }), await submit(t, { code: 'add(2,2)' })];
    const closing = t.device.close(300);
    expect(t.device.accepting).toBe(false);
    expect((await run(t, { code: 'add(1,1)' }))).toMatchObject({ status: 503, body: { code: 'WASM64_SHUTTING_DOWN' } });
    for (const id of queued) expect(t.device.get(id)).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_SHUTDOWN' } });
    expect(t.device.get(spin)?.status).toBe('running');
    await closing;
    expect(t.device.get(spin)).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_SHUTDOWN' } });
    expect([t.device.running, t.device.queued]).toEqual([0, 0]);
  });

  it('lets a running job that ends within the grace period complete', async () => {
    const t = await start();
    const id = await submit(t, { code: 'count(20000000)' });
    await until(() => t.device.get(id)?.status === 'running');
    await t.device.close(15_000);
    expect(t.device.get(id)).toMatchObject({ status: 'completed', results: [20_000_000] });
  });
});

describe('load', () => {
  it('brings 1,000 concurrent submissions to a terminal state', async () => {
    const t = await start({ poolThreads: 2 });
    const settledIds = new Set<string>();
    t.device.on('settled', (job) => settledIds.add(job.id));
    const bodies = Array.from({ length: 1000 }, (_, i) =>
      i % 10 === 0 ? { code: 'boom()' } : i % 100 === 1 ? { code: 'spin()', timeout_ms: 1 } : { code: `add(${i},1)` },
    );
    const answers = await Promise.all(bodies.map((body) => run(t, body)));
    expect(answers.every((a) => a.status === 202)).toBe(true);
    const jobs = await Promise.all(answers.map((a) => settled(t, a.body.id as string)));
    expect(settledIds.size).toBe(1000);
    jobs.forEach((job, i) => {
      if (i % 10 === 0) expect(job.error.code).toBe('WASM64_TRAP');
      else if (i % 100 === 1) expect(job.error.code).toBe('WASM64_TIMEOUT');
      else expect(job).toMatchObject({ status: 'completed', result: i + 1 });
    });
    expect([t.device.running, t.device.queued, t.device.waiting]).toEqual([0, 0, 0]);
  }, 60_000);
});
