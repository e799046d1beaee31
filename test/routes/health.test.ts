import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, pollJob } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('GET /healthz and /readyz', () => {
  it('are alive and ready on a fresh app', async () => {
    t = await buildTestApp();
    const live = await t.app.inject({ url: '/healthz' });
    expect(live.statusCode).toBe(200);
    expect(live.json()).toEqual({ status: 'ok' });
    const ready = await t.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: { accepting: true, workers: true, queue: true, store: true } });
  });

  it('is not ready while the queue is saturated, and ready again once it drains', async () => {
    // One thread takes two jobs (one running, one ready behind it); the third waits in the queue of one.
    t = await buildTestApp({ poolThreads: 1, poolMaxQueue: 1 });
    const ids: string[] = [];
    for (const code of ['fib_rec(35)', 'fib_rec(35)', 'add(1,1)']) {
      const res = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', payload: { code } });
      expect(res.statusCode).toBe(202);
      ids.push(res.json<{ id: string }>().id);
    }
    const busy = await t.app.inject({ url: '/readyz' });
    expect(busy.statusCode).toBe(503);
    expect(busy.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(busy.json()).toMatchObject({ code: 'WASM64_NOT_READY', checks: { accepting: true, workers: true, queue: false } });
    for (const id of ids) await pollJob(t.app, id, 60_000);
    expect((await t.app.inject({ url: '/readyz' })).statusCode).toBe(200);
  });

  it('is not ready once the device is closing, while still alive; new runs get 503 WASM64_SHUTTING_DOWN', async () => {
    t = await buildTestApp();
    const closed = t.device.close();
    const ready = await t.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({ code: 'WASM64_NOT_READY', checks: { accepting: false } });
    expect((await t.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    const run = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', payload: { code: 'add(2,3)' } });
    expect(run.statusCode).toBe(503);
    expect(run.json()).toMatchObject({ code: 'WASM64_SHUTTING_DOWN' });
    await closed;
    expect((await t.app.inject({ url: '/readyz' })).json()).toMatchObject({ checks: { accepting: false, workers: false } });
  });
});
