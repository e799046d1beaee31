// The device core on the in-process pool (no thread, no build): admission, idempotency, waits, settling, events, shutdown.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/device/job.js';
import type { StoredModule } from '../../src/device/module-store.js';
import { BatchControl } from '../../src/worker/batch-control.js';
import { createInProcessPool } from '../../src/worker/in-process-pool.js';
import { BatchAbort } from '../../src/worker/pool.js';
import { loadFixture } from '../support/fixtures.js';
import { buildTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

let fixture: StoredModule;
const open: TestApp[] = [];
beforeAll(async () => {
  fixture = await loadFixture('lifecycle');
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

async function start(overrides: Parameters<typeof buildTestApp>[0] = {}): Promise<TestApp> {
  const t = await buildTestApp(overrides, { module: fixture, inProcess: true });
  open.push(t);
  return t;
}

describe('the device core, in process', () => {
  it('runs jobs to their results, stores them and lists them newest first', async () => {
    const { device } = await start();
    const jobs = await Promise.all([1, 2, 3].map(async (n) => (await device.submit({ code: `add(${n},1)` })).job));
    const done = await Promise.all(jobs.map((j) => device.waitFor(j, 10_000)));
    expect(done.map((j) => [j.status, j.results])).toEqual([['completed', [2]], ['completed', [3]], ['completed', [4]]]);
    expect(done.every((j) => j.startedAt !== undefined && j.finishedAt !== undefined && j.durationMs !== undefined)).toBe(true);
    expect(device.get(jobs[0]!.id)).toBe(done[0]);
    expect(device.list({ limit: 10 }).jobs.map((j) => j.id)).toEqual(jobs.map((j) => j.id).reverse());
    expect([device.queued, device.running, device.waiting]).toEqual([0, 0, 0]);
  });

  it('records a trap as the job failing with its code', async () => {
    const { device } = await start();
    const { job } = await device.submit({ code: 'boom()' });
    expect(await device.waitFor(job, 10_000)).toMatchObject({ status: 'failed', error: { code: 'WASM64_TRAP' } });
  });

  it('tells observers of each job queued, started and settled, in that order', async () => {
    const { device } = await start();
    const seen: string[] = [];
    device.on('queued', (j) => seen.push(`queued ${j.function}`));
    device.on('started', (j, waitMs) => seen.push(`started ${j.function} ${waitMs >= 0}`));
    device.on('settled', (j) => seen.push(`settled ${j.function} ${j.status}`));
    const { job } = await device.submit({ code: 'add(2,2)' });
    await device.waitFor(job, 10_000);
    expect(seen).toEqual(['queued add', 'started add true', 'settled add completed']);
  });

  it('answers a repeated Idempotency-Key with the same job, and refuses it for another request', async () => {
    const { device } = await start();
    const first = await device.submit({ code: 'add(1,1)' }, { idempotencyKey: 'k1' });
    const again = await device.submit({ code: 'add(1,1)' }, { idempotencyKey: 'k1' });
    expect([first.replayed, again.replayed, again.job]).toEqual([false, true, first.job]);
    await expect(device.submit({ code: 'add(1,2)' }, { idempotencyKey: 'k1' })).rejects.toMatchObject({ code: 'WASM64_IDEMPOTENCY_MISMATCH' });
    // Two at once with one key: one job.
    const [a, b] = await Promise.all([device.submit({ code: 'add(5,5)' }, { idempotencyKey: 'k2' }), device.submit({ code: 'add(5,5)' }, { idempotencyKey: 'k2' })]);
    expect(a.job).toBe(b.job);
    expect([a.replayed, b.replayed].sort()).toEqual([false, true]);
  });

  it('refuses with WASM64_QUEUE_FULL beyond POOL_MAX_QUEUE, creating nothing', async () => {
    const { device } = await start({ poolMaxQueue: 2 });
    // In one turn: nothing is dispatched before the third submission is admitted.
    const submissions = [device.submit({ code: 'add(1,1)' }), device.submit({ code: 'add(1,1)' }), device.submit({ code: 'add(1,1)' })];
    const results = await Promise.allSettled(submissions);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'WASM64_QUEUE_FULL', headers: { 'retry-after': '1' } });
    expect(device.list({ limit: 10 }).jobs).toHaveLength(2);
  });

  it('cancels a queued job at once; a finished one is WASM64_JOB_FINISHED, an unknown one WASM64_JOB_NOT_FOUND', async () => {
    const { device } = await start();
    const { job } = await device.submit({ code: 'add(1,1)' });
    const waiting = device.waitFor(job, 10_000);
    // Before the next turn, when the runner hands it to the pool.
    expect(device.cancel(job.id)).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_CANCELLED' } });
    expect(await waiting).toBe(job);
    expect(() => device.cancel(job.id)).toThrow(expect.objectContaining({ code: 'WASM64_JOB_FINISHED' }) as Error);
    expect(() => device.cancel('nope')).toThrow(expect.objectContaining({ code: 'WASM64_JOB_NOT_FOUND' }) as Error);
    // The job it withdrew never ran: the next one still does.
    const { job: next } = await device.submit({ code: 'add(2,3)' });
    expect(await device.waitFor(next, 10_000)).toMatchObject({ status: 'completed', results: [5] });
    expect(job.startedAt).toBeUndefined();
  });

  it('ends a wait at its deadline with the job as it is, and at once beyond WAIT_MAX_CLIENTS', async () => {
    const { device } = await start({ waitMaxClients: 1 });
    const { job } = await device.submit({ code: 'add(1,1)' });
    device.cancel(job.id);
    const queued: Job = { ...job, id: 'not-stored', status: 'queued' };
    const held = device.waitFor(queued, 50);
    expect(device.waiting).toBe(1);
    expect(await device.waitFor(queued, 10_000)).toBe(queued); // the second wait: beyond the cap, answered at once
    expect(await held).toBe(queued);
    expect(device.waiting).toBe(0);
  });

  it('refuses runs once closing, and ends the jobs no thread has started cancelled with WASM64_SHUTDOWN', async () => {
    const { device } = await start();
    const { job } = await device.submit({ code: 'add(1,1)' });
    const closing = device.close();
    expect(device.accepting).toBe(false);
    await expect(device.submit({ code: 'add(1,1)' })).rejects.toMatchObject({ code: 'WASM64_SHUTTING_DOWN' });
    await closing;
    expect(job).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_SHUTDOWN' } });
    expect(device.workers.live).toBe(0);
  });
});

describe('the in-process pool', () => {
  it('runs a batch as a thread would: claimed job by job, withdrawn ones skipped', async () => {
    const pool = createInProcessPool();
    const control = new BatchControl(2);
    const task = { jobId: 'a', module: fixture.compiled, instrumentation: null, fuel: null, reuse: null, function: 'add', parameters: [2n, 3n] };
    const running = pool.run({ tasks: [task, { ...task, jobId: 'b' }], control: control.buffer });
    control.withdraw(1);
    const [first, second] = await running;
    expect(first).toMatchObject({ ok: true, results: [5n] });
    expect(second).toBeNull();
    expect(pool.workers()).toEqual({ live: 1, busy: 0, restarts: 0 });
    await pool.destroy();
    expect(pool.workers().live).toBe(0);
  });

  it('rejects a batch aborted before it starts, and runs nothing of it', async () => {
    const pool = createInProcessPool();
    const control = new BatchControl(1);
    const abort = new BatchAbort();
    const task = { jobId: 'a', module: fixture.compiled, instrumentation: null, fuel: null, reuse: null, function: 'add', parameters: [2n, 3n] };
    const running = pool.run({ tasks: [task], control: control.buffer }, abort);
    abort.abort('WASM64_CANCELLED');
    await expect(running).rejects.toThrow(/aborted/);
    expect(control.state(0)).toBe(0);
  });
});
