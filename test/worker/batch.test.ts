// Batches on the real pool: jobs run in order on one thread, withdrawn ones never run, a running one is visible.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDefaultModule } from '../../src/device/module-store.js';
import type { StoredModule } from '../../src/device/module-store.js';
import { enableMemory64 } from '../../src/wasm/features.js';
import { BatchControl, FINISHED, PENDING, RUNNING, WITHDRAWN } from '../../src/worker/batch-control.js';
import type { Worker } from 'node:worker_threads';
import { BatchAbort, createWorkerPool, WORKER_YOUNG_GENERATION_MB } from '../../src/worker/pool.js';
import type { WorkerPool } from '../../src/worker/pool.js';
import type { EvaluateTask } from '../../src/worker/protocol.js';

let pool: WorkerPool;
let module: StoredModule;
beforeAll(async () => {
  enableMemory64();
  module = await loadDefaultModule();
  pool = createWorkerPool({ threads: 1, maxQueue: 4 });
});
afterAll(async () => {
  await pool.destroy();
});

const task = (fn: string, ...parameters: bigint[]): EvaluateTask => ({
  jobId: fn,
  module: module.compiled,
  instrumentation: null,
  fuel: null,
  reuse: null,
  function: fn,
  parameters,
});

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 1));
}

describe('BatchControl', () => {
  it('lets exactly one side win each job: the worker claims it or the device withdraws it', () => {
    const control = new BatchControl(3);
    expect(control.claim(0, 1000)).toBe(true);
    expect(control.withdraw(0)).toBe(RUNNING);
    expect(control.withdraw(1)).toBe(PENDING);
    expect(control.claim(1, 1001)).toBe(false);
    expect(control.state(1)).toBe(WITHDRAWN);
    control.finish(0);
    expect(control.withdraw(0)).toBe(FINISHED);
    expect(control.startedAt(0)).toBe(1000);
    expect(control.running()).toBe(-1);
  });

  it('reads the same words through a second view of its buffer, as the worker does', () => {
    const device = new BatchControl(2);
    const worker = new BatchControl(device.buffer);
    expect(worker.size).toBe(2);
    expect(worker.claim(1, 42)).toBe(true);
    expect(device.state(1)).toBe(RUNNING);
    expect(device.startedAt(1)).toBe(42);
    expect(device.running()).toBe(1);
  });
});

describe('the pool', () => {
  it('starts its threads with a small young generation (RSS stays flat under a stream of jobs)', async () => {
    const threads: Worker[] = [];
    const small = createWorkerPool({ threads: 2, maxQueue: 4, onThread: (thread) => threads.push(thread) });
    try {
      await until(() => threads.length === 2);
      for (const thread of threads) expect(thread.resourceLimits?.maxYoungGenerationSizeMb).toBe(WORKER_YOUNG_GENERATION_MB);
      expect(await small.run({ tasks: [task('add', 2n, 3n)], control: new BatchControl(1).buffer })).toMatchObject([{ ok: true, results: [5n] }]);
    } finally {
      await small.destroy();
    }
  });
});

describe('a batch on the pool', () => {
  it('runs every job in order and answers each outcome in its place', async () => {
    const control = new BatchControl(3);
    const outcomes = await pool.run({ tasks: [task('add', 2n, 3n), task('div', 1n, 0n), task('fac', 5n)], control: control.buffer });
    expect(outcomes.map((o) => (o === null ? null : o.ok ? o.results : o.code))).toEqual([[5n], 'WASM64_TRAP', [120n]]);
    expect([0, 1, 2].map((i) => control.state(i))).toEqual([FINISHED, FINISHED, FINISHED]);
    expect(control.startedAt(2)).toBeGreaterThanOrEqual(control.startedAt(0));
  });

  it('skips a job the device withdrew before the thread reached it, and runs the rest', async () => {
    const control = new BatchControl(3);
    // Withdrawn before the batch is posted: the thread reaches it after, whatever the machine's load.
    expect(control.withdraw(1)).toBe(PENDING);
    const outcomes = await pool.run({ tasks: [task('fib_rec', 27n), task('add', 1n, 1n), task('add', 2n, 2n)], control: control.buffer });
    expect(outcomes[1]).toBeNull();
    expect(outcomes[0]).toMatchObject({ ok: true, results: [196418n] });
    expect(outcomes[2]).toMatchObject({ ok: true, results: [4n] });
    expect(control.state(1)).toBe(WITHDRAWN);
  });

  it('shows which job is running, and an abort stops it and frees the pool for the next batch', async () => {
    const control = new BatchControl(2);
    const aborter = new BatchAbort();
    // fib_rec(80) would run for centuries: only terminating the thread ends it.
    const stuck = pool.run({ tasks: [task('add', 1n, 2n), task('fib_rec', 80n)], control: control.buffer }, aborter);
    await until(() => control.running() === 1);
    expect(control.state(0)).toBe(FINISHED);
    expect(control.startedAt(1)).toBeGreaterThan(0);
    aborter.abort('stuck');
    await expect(stuck).rejects.toThrow();
    const next = new BatchControl(1);
    expect(await pool.run({ tasks: [task('add', 20n, 22n)], control: next.buffer })).toMatchObject([{ ok: true, results: [42n] }]);
  });
});
