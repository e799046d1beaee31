// Batches on the real device and pool: short jobs share a message; stopping one job of a batch ends only
// that job, withdrawing it if its thread has not reached it, and re-running the rest if the thread was killed.
import { readFile } from 'node:fs/promises';
import type { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BatchPlan, planKey } from '../../src/device/batch-plan.js';
import { Wasm64Device } from '../../src/device/device.js';
import { MemoryJobStore } from '../../src/device/job-store.js';
import type { Job } from '../../src/device/job.js';
import type { StoredModule } from '../../src/device/module-store.js';
import type { RunRequest } from '../../src/schemas/job.js';
import { enableMemory64 } from '../../src/wasm/features.js';
import { createWorkerPool } from '../../src/worker/pool.js';
import type { WorkerPool } from '../../src/worker/pool.js';
import { loadFixture } from '../support/fixtures.js';

let fixture: StoredModule;
const devices: Wasm64Device[] = [];
beforeAll(async () => {
  enableMemory64();
  fixture = await loadFixture('lifecycle');
});
afterEach(async () => {
  await Promise.all(devices.splice(0).map((d) => d.close()));
});

/**
 * A device on one real thread; `batches` records the size of every batch handed to the pool. Functions
 * in `short` start out known as short, so their jobs share batches from the first one, whatever the
 * machine's load makes their first runs look like.
 */
function start(...short: string[]): { device: Wasm64Device; batches: number[]; batchPlan: BatchPlan; threads: Worker[] } {
  const batchPlan = new BatchPlan();
  for (const name of short) batchPlan.observe(planKey(fixture.id, name), 0.001);
  const threads: Worker[] = [];
  const real = createWorkerPool({ threads: 1, maxQueue: 2, onThread: (t) => threads.push(t) });
  const batches: number[] = [];
  const pool: WorkerPool = {
    threads: real.threads,
    workers: () => real.workers(),
    run: (batch, signal) => {
      batches.push(batch.tasks.length);
      return real.run(batch, signal);
    },
    destroy: () => real.destroy(),
  };
  const device = new Wasm64Device({
    pool,
    store: new MemoryJobStore({ ttlMs: 60_000, maxJobs: 10_000 }),
    defaultModule: fixture,
    logger: pino({ level: 'silent' }),
    maxQueue: 10_000,
    defaultTimeoutMs: 30_000,
    maxTimeoutMs: 60_000,
    sweepIntervalMs: 10,
    batchPlan,
  });
  devices.push(device);
  return { device, batches, batchPlan, threads };
}

const submit = async (device: Wasm64Device, code: string, timeoutMs?: number): Promise<Job> =>
  (await device.submit(timeoutMs === undefined ? { code } : { code, timeout_ms: timeoutMs })).job;

/** Submits together (in one turn of the event loop, so that they can share a batch), in this order. */
const submitAll = (device: Wasm64Device, ...codes: (string | [string, number])[]): Promise<Job[]> =>
  Promise.all(codes.map((c) => (typeof c === 'string' ? submit(device, c) : submit(device, c[0], c[1]))));
const settled = (device: Wasm64Device, job: Job): Promise<Job> => device.waitFor(job, 30_000);

async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((r) => setTimeout(r, 2));
}

describe('batching', () => {
  it('sends short jobs together, far fewer messages than jobs, each with its own result', async () => {
    const { device, batches } = start('add');
    const jobs = await submitAll(device, ...Array.from({ length: 40 }, (_, i) => `add(${i},1)`));
    const done = await Promise.all(jobs.map((j) => settled(device, j)));
    expect(done.map((j) => j.results?.[0])).toEqual(jobs.map((_, i) => i + 1));
    expect(done.every((j) => j.status === 'completed' && j.startedAt !== undefined)).toBe(true);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(40);
    expect(batches.length).toBeLessThan(20);
  });

  it('sends a job of a function never seen, or seen to run long, alone', async () => {
    const { device, batches } = start();
    await Promise.all((await submitAll(device, 'count(1000)', 'count(1000)')).map((j) => settled(device, j)));
    expect(batches).toEqual([1, 1]);
  });

  it('withdraws a cancelled job its thread has not reached: the thread lives on and runs the others', async () => {
    const { device, batches } = start('count', 'add');
    // count is known as short, so this long one shares the batch with the two adds behind it.
    const [long, skipped, kept] = (await submitAll(device, 'count(200000000)', 'add(1,1)', 'add(2,2)')) as [Job, Job, Job];
    await until(() => device.get(long.id)?.status === 'running');
    expect(device.cancel(skipped.id)).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_CANCELLED' } });
    expect(await settled(device, long)).toMatchObject({ status: 'completed', results: [200000000] });
    expect(await settled(device, kept)).toMatchObject({ status: 'completed', results: [4] });
    expect(skipped.status).toBe('cancelled');
    expect(batches).toEqual([3]);
  });

  it('times out the job its thread runs, kills the thread, and runs the rest of the batch again', async () => {
    const { device, batches } = start('count', 'add');
    const [before, stuck, after] = (await submitAll(device, 'count(10)', ['count(1000000000000)', 100], 'add(2,3)')) as [Job, Job, Job];
    expect(await settled(device, stuck)).toMatchObject({ status: 'failed', error: { code: 'WASM64_TIMEOUT' } });
    expect(await settled(device, before)).toMatchObject({ status: 'completed', results: [10] });
    expect(await settled(device, after)).toMatchObject({ status: 'completed', results: [5] });
    expect(batches[0]).toBe(3);
    expect(batches.length).toBeGreaterThan(1);
    // The pool still serves.
    expect(await settled(device, await submit(device, 'add(20,22)'))).toMatchObject({ status: 'completed', results: [42] });
  });

  it('cancels the job its thread runs without failing its batch mates', async () => {
    const { device } = start('count', 'add');
    const [first, stuck, last] = (await submitAll(device, 'add(1,2)', 'count(1000000000000)', 'add(3,4)')) as [Job, Job, Job];
    await until(() => device.get(stuck.id)?.status === 'running');
    expect(device.running).toBe(1);
    device.cancel(stuck.id);
    expect(await settled(device, first)).toMatchObject({ status: 'completed', results: [3] });
    expect(await settled(device, last)).toMatchObject({ status: 'completed', results: [7] });
    expect(stuck).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_CANCELLED' } });
  });

  it('on shutdown, withdraws batched jobs no thread has started and cancels the running one', async () => {
    const { device } = start('count', 'add');
    const [stuck, waiting] = (await submitAll(device, 'count(1000000000000)', 'add(1,1)')) as [Job, Job];
    await until(() => device.get(stuck.id)?.status === 'running');
    expect(device.queued).toBe(1);
    await device.close();
    expect(stuck).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_SHUTDOWN' } });
    expect(waiting).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_SHUTDOWN' } });
  });

  it('carries every field of a task through a batch: WASI, memory I/O and returns, fuel, memory limits, module variants', async () => {
    const { device, batches, batchPlan } = start();
    const wat = async (name: string): Promise<string> => readFile(new URL(`../fixtures/${name}.wat`, import.meta.url), 'utf8');
    const [cat, strings, grower] = await Promise.all([wat('wasi/cat64'), wat('wasi/strings64'), wat('grower64')]);
    const requests: RunRequest[] = [
      { wat: cat, wasi: { stdin: 'one' } },
      { wat: strings, function: 'upper', parameters: [{ string: 'batch', length: true }], returns: { type: 'string', length: 5 } },
      { code: 'add(2,3)', fuel: 1000 },
      { wat: grower, function: 'grow_by_pages', parameters: [10], memory_limit: 4 * 65_536 },
      { wat: cat, wasi: { stdin: 'two' } },
      { wat: grower, function: 'grow_by_pages', parameters: [10] },
    ];
    // One run of each alone, then the plan is told they are all short, so the second round shares one batch.
    for (const request of requests) {
      const job = await settled(device, (await device.submit(request)).job);
      // A running average: enough observations bury what the first, cold run measured.
      for (let i = 0; i < 100; i++) batchPlan.observe(planKey(job.moduleId, job.function, job.fuel !== undefined), 0.001);
    }
    // Submitting resolves modules asynchronously: two endless jobs (each alone) hold the pool's two slots
    // until all six are queued, then leave (one withdrawn, one killed), and the six go out together.
    const holders = await submitAll(device, 'spin()', 'spin()');
    await until(() => holders.some((j) => device.get(j.id)?.status === 'running'));
    batches.length = 0;
    const jobs = await Promise.all(requests.map(async (r) => (await device.submit(r)).job));
    for (const holder of [...holders].reverse()) device.cancel(holder.id);
    const [one, upper, metered, capped, two, uncapped] = await Promise.all(jobs.map((j) => settled(device, j)));
    expect(batches).toEqual([6]);
    expect(one).toMatchObject({ status: 'completed', wasi: { exitCode: 7, stdout: { value: 'hello from memory64\none' } } });
    expect(two).toMatchObject({ status: 'completed', wasi: { exitCode: 7, stdout: { value: 'hello from memory64\ntwo' } } });
    expect(upper).toMatchObject({ status: 'completed', returned: { value: 'BATCH', base64: false } });
    expect(metered).toMatchObject({ status: 'completed', results: [5], fuel: 1000 });
    expect(metered?.fuelUsed).toBeGreaterThan(0);
    expect(capped).toMatchObject({ status: 'failed', error: { code: 'WASM64_MEMORY_LIMIT' } });
    expect(uncapped).toMatchObject({ status: 'completed', results: [11] });
  });

  it('a thread killed under one job of a batch: that job fails with WASM64_WORKER_FAILED, its mates (finished or not) run again and complete', async () => {
    const { device, batches, threads } = start('count', 'add');
    const [done, stuck, waiting] = (await submitAll(device, 'add(1,2)', 'count(1000000000000)', 'add(3,4)')) as [Job, Job, Job];
    await until(() => device.get(stuck.id)?.status === 'running');
    expect(batches).toEqual([3]);
    // Not an abort of the device's: the thread dies, and the outcome of `done`, already computed, is lost with it.
    await threads.find((t) => t.threadId !== -1)!.terminate();
    expect(await settled(device, stuck)).toMatchObject({ status: 'failed', error: { code: 'WASM64_WORKER_FAILED' } });
    expect(await settled(device, done)).toMatchObject({ status: 'completed', results: [3] });
    expect(await settled(device, waiting)).toMatchObject({ status: 'completed', results: [7] });
    expect(batches.length).toBeGreaterThan(1);
  });
});
