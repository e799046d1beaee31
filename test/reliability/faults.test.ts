// Faults inside the service: a worker thread killed under a job, and bookkeeping that throws. It keeps serving.
import type { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Wasm64Device } from '../../src/device/device.js';
import { MemoryJobStore } from '../../src/device/job-store.js';
import type { Job } from '../../src/device/job.js';
import { loadDefaultModule } from '../../src/device/module-store.js';
import type { RunRequest } from '../../src/schemas/job.js';
import { enableMemory64 } from '../../src/wasm/features.js';
import { createWorkerPool } from '../../src/worker/pool.js';
import { captureLogs } from '../support/log-capture.js';
import type { LogCapture } from '../support/log-capture.js';
import { buildTestApp } from '../support/test-app.js';

/** A job that runs until something stops it: naive fib(60) is hours of work. */
const ENDLESS: RunRequest = { code: 'fib_rec(60)' };
const ADD: RunRequest = { code: 'add(2,3)' };

interface Rig {
  device: Wasm64Device;
  store: MemoryJobStore;
  /** Every thread the pool started, replacements included, alive or not. */
  threads: Worker[];
  logs: LogCapture;
}

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.device.close();
  rig = undefined;
});

async function build(threads: number, store = new MemoryJobStore({ ttlMs: 60_000, maxJobs: 10_000 })): Promise<Rig> {
  enableMemory64();
  const started: Worker[] = [];
  const logs = captureLogs();
  const device = new Wasm64Device({
    pool: createWorkerPool({ threads, maxQueue: threads * 2, onThread: (t) => started.push(t) }),
    store,
    defaultModule: await loadDefaultModule(),
    logger: pino({ level: 'info' }, logs),
    maxQueue: 1000,
    defaultTimeoutMs: 60_000,
    maxTimeoutMs: 60_000,
    sweepIntervalMs: 10,
  });
  rig = { device, store, threads: started, logs };
  return rig;
}

async function settled(device: Wasm64Device, job: Job): Promise<Job> {
  const done = await device.waitFor(job, 30_000);
  expect(done.status, `job ${job.function} still ${done.status}`).toMatch(/^(completed|failed|cancelled)$/);
  return done;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 3000 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition(), what).toBe(true);
}

async function expectServes(device: Wasm64Device, jobs = 8): Promise<void> {
  const results = await Promise.all(Array.from({ length: jobs }, async () => settled(device, (await device.submit(ADD)).job)));
  for (const job of results) expect(job).toMatchObject({ status: 'completed', results: [5] });
}

const alive = (threads: Worker[]): Worker[] => threads.filter((t) => t.threadId !== -1);

/**
 * Waits until the device reports every job of `jobs` running: a thread has claimed it from its batch and
 * is running it (before that claim a killed thread loses the job without it being the one that died under it).
 */
async function running(device: Wasm64Device, jobs: Job[], what: string): Promise<void> {
  await until(() => jobs.every((j) => device.get(j.id)?.status === 'running'), what);
}

/**
 * Waits until `count` threads have booted. Piscina reports a thread once it is ready, and posts a task to
 * a ready idle thread at once: after this, a job submitted is on a thread as soon as the device says running.
 */
async function booted(threads: Worker[], count: number): Promise<void> {
  await until(() => alive(threads).length === count, `${count} threads booted`);
}

describe('a worker thread dies under a job', () => {
  it('fails that job with WASM64_WORKER_FAILED, replaces the thread, and runs the next jobs', async () => {
    const { device, threads } = await build(1);
    await booted(threads, 1);
    const { job } = await device.submit(ENDLESS);
    await running(device, [job], 'the endless job is on the thread');
    expect(device.workers.busy).toBe(1);
    expect(job.status).toBe('running');

    const [victim] = alive(threads);
    await victim!.terminate();

    const done = await settled(device, job);
    expect(done).toMatchObject({ status: 'failed', error: { code: 'WASM64_WORKER_FAILED' } });
    expect(done.startedAt).toBeDefined();
    await booted(threads, 1);
    expect(device.workers).toMatchObject({ live: 1, restarts: 1 });
    expect(alive(threads)[0]).not.toBe(victim);
    await expectServes(device);
    expect(rig!.logs.lines.some((l) => l.msg === 'job failed: the worker running it failed' && l.job === job.id)).toBe(true);
  });

  it('with jobs queued behind it: only the job on the killed thread fails, every other job completes', async () => {
    const { device, threads } = await build(2);
    await booted(threads, 2);
    const endless = [(await device.submit(ENDLESS)).job, (await device.submit(ENDLESS)).job];
    const queued = await Promise.all(Array.from({ length: 40 }, async () => (await device.submit(ADD)).job));
    await running(device, endless, 'both endless jobs are on threads');

    await alive(threads)[0]!.terminate();
    await until(() => endless.some((j) => j.status === 'failed'), 'one endless job failed');
    // The surviving endless job holds the other thread; cancel it so the queue drains on both.
    const survivor = endless.find((j) => j.status === 'running')!;
    device.cancel(survivor.id);

    const outcomes = await Promise.all([...endless, ...queued].map((j) => settled(device, j)));
    expect(outcomes.filter((j) => j.error?.code === 'WASM64_WORKER_FAILED')).toHaveLength(1);
    expect(survivor).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_CANCELLED' } });
    expect(queued.every((j) => j.status === 'completed' && j.results?.[0] === 5)).toBe(true);
    await booted(threads, 2);
    await expectServes(device);
  });

  it('survives every thread being killed at once, twice over', async () => {
    const { device, threads } = await build(2);
    for (let round = 0; round < 2; round++) {
      await booted(threads, 2);
      const jobs = [(await device.submit(ENDLESS)).job, (await device.submit(ENDLESS)).job];
      await running(device, jobs, 'both threads are busy');
      await Promise.all(alive(threads).map((t) => t.terminate()));
      const done = await Promise.all(jobs.map((j) => settled(device, j)));
      expect(done.map((j) => j.error?.code)).toEqual(['WASM64_WORKER_FAILED', 'WASM64_WORKER_FAILED']);
    }
    await booted(threads, 2);
    expect(device.workers.restarts).toBe(4);
    await expectServes(device);
  });
});

describe('a fault in the device\'s bookkeeping', () => {
  it('an event listener that throws on every event is logged, and jobs still complete', async () => {
    const { device, logs } = await build(2);
    for (const event of ['queued', 'started', 'settled'] as const) {
      device.on(event, () => {
        throw new Error(`listener for ${event} broke`);
      });
    }
    await expectServes(device);
    const failing = await settled(device, (await device.submit({ code: 'div(1,0)' })).job);
    expect(failing).toMatchObject({ status: 'failed', error: { code: 'WASM64_TRAP' } });
    const logged = new Set(logs.lines.filter((l) => l.msg === 'a device event listener threw').map((l) => l.event));
    expect(logged).toEqual(new Set(['queued', 'started', 'settled']));
  });

  it('a job store that throws when a job settles: the job still ends, its waiters hear of it, and the queue keeps moving', async () => {
    class FailingStore extends MemoryJobStore {
      failures = 0;
      override settled(job: Job): void {
        if (this.failures > 0) {
          this.failures--;
          throw new Error('the store is down');
        }
        super.settled(job);
      }
    }
    const store = new FailingStore({ ttlMs: 60_000, maxJobs: 10_000 });
    const { device, logs } = await build(1, store);
    store.failures = 5;
    // More jobs than the pool holds, so that dispatching the rest depends on recording the first outcomes.
    const jobs = await Promise.all(Array.from({ length: 12 }, async () => (await device.submit(ADD)).job));
    const done = await Promise.all(jobs.map((j) => settled(device, j)));
    expect(done.every((j) => j.status === 'completed')).toBe(true);
    expect(store.failures).toBe(0);
    expect(logs.lines.filter((l) => l.msg === 'the job store failed to record a settled job')).toHaveLength(5);
    await expectServes(device);
  });

  it('a job store that throws during the sweep: logged, and the next sweep runs', async () => {
    class SweepFailingStore extends MemoryJobStore {
      sweeps = 0;
      override evictExpired(): void {
        this.sweeps++;
        if (this.sweeps <= 3) throw new Error('eviction broke');
        super.evictExpired();
      }
    }
    const store = new SweepFailingStore({ ttlMs: 60_000, maxJobs: 10_000 });
    const { device, logs } = await build(1, store);
    await until(() => store.sweeps > 5, 'the sweep kept running');
    expect(logs.lines.filter((l) => l.msg === 'the device sweep failed')).toHaveLength(3);
    await expectServes(device);
  });
});

describe('a bug inside a request', () => {
  it('answers 500 WASM64_INTERNAL with no stack trace or host path, logs the error, and keeps serving', async () => {
    const logs = captureLogs();
    const t = await buildTestApp({}, { logTo: logs });
    try {
      const real = t.device.submit.bind(t.device);
      // Fault injection: the next submission hits a bug whose message and stack name host paths.
      t.device.submit = () => Promise.reject(new TypeError(`cannot read properties of undefined (at ${process.cwd()}/src/device/device.ts:1:1)`));
      const res = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', payload: { code: 'add(2,3)' } });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toMatchObject({ code: 'WASM64_INTERNAL', status: 500 });
      expect(res.body).not.toMatch(/\n\s+at |\/work\/|node_modules|file:\/\/|\.ts:\d|TypeError/);
      expect(res.headers['x-request-id']).toBeTruthy();
      expect(logs.lines.some((l) => l.level === 50 && JSON.stringify(l).includes('cannot read properties'))).toBe(true);

      t.device.submit = real;
      const again = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', headers: { prefer: 'wait=10' }, payload: { code: 'add(2,3)' } });
      expect(again.json()).toMatchObject({ status: 'completed', result: 5 });
    } finally {
      await t.close();
    }
  });
});
