// Load: 10,000 jobs from 100 concurrent clients against a real server with a small queue, and memory after the TTL.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driveLoad, jobFor, quantile, readMemory, storedJobs } from '../../scripts/load-driver.mjs';
import { Wasm64Device } from '../../src/device/device.js';
import { MemoryJobStore } from '../../src/device/job-store.js';
import type { Job } from '../../src/device/job.js';
import { loadDefaultModule } from '../../src/device/module-store.js';
import { enableMemory64 } from '../../src/wasm/features.js';
import { createWorkerPool } from '../../src/worker/pool.js';
import { startServer } from '../support/server-process.js';
import type { ServerProcess } from '../support/server-process.js';

const MiB = 1024 * 1024;
const mib = (bytes: number | null): string => (bytes === null ? '?' : `${(bytes / MiB).toFixed(1)} MiB`);

describe('10,000 jobs from 100 clients against a queue of 16', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer({ POOL_THREADS: '2', POOL_MAX_QUEUE: '16', JOB_TTL_SECONDS: '15', LOG_LEVEL: 'info' });
  });
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  it('ends every accepted job terminal and as it must, refuses only with 429 and Retry-After, never 5xx, and drops every job after the TTL', async () => {
    await driveLoad({ url: server.url, clients: 4, jobs: 200 });
    const baseline = await readMemory(server.url);
    const samples = [baseline];
    const sampler = setInterval(() => void readMemory(server.url).then((m) => samples.push(m), () => {}), 500);
    const summary = await driveLoad({ url: server.url, clients: 100, jobs: 10_000 }).finally(() => clearInterval(sampler));

    expect(summary.errors).toEqual([]);
    expect(summary.wrong).toEqual([]);
    expect(summary.unfinished).toEqual([]);
    expect(summary.attempts).toBe(10_000);
    expect(summary.accepted + summary.refused).toBe(10_000);
    // The queue was pressed hard enough to refuse, and still took most of the work.
    expect(summary.refused).toBeGreaterThan(0);
    expect(summary.accepted).toBeGreaterThan(1000);
    const failedTraps = summary.failed.WASM64_TRAP ?? 0;
    expect(summary.completed + failedTraps).toBe(summary.accepted);
    expect(Object.keys(summary.failed).filter((code) => code !== 'WASM64_TRAP')).toEqual([]);

    // Every job expires 15 s after it finished (long enough for a client on a loaded machine to read it); the sweep drops it.
    const deadline = Date.now() + 45_000;
    while ((await storedJobs(server.url)) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await storedJobs(server.url)).toBe(0);
    const after = await readMemory(server.url);
    const peak = Math.max(...samples.map((s) => s.rss ?? 0));

    expect(server.child.exitCode).toBeNull();
    expect(server.logs.filter((l) => Number(l.level) >= 50)).toEqual([]);
    console.log(
      `load: ${summary.attempts} submissions in ${(summary.durationMs / 1000).toFixed(1)} s: ${summary.accepted} accepted `
        + `(${summary.completed} completed, ${failedTraps} trapped), ${summary.refused} refused with 429; `
        + `submit-to-terminal p50 ${quantile(summary.latenciesMs, 0.5)?.toFixed(1)} ms, p99 ${quantile(summary.latenciesMs, 0.99)?.toFixed(1)} ms; `
        + `server RSS ${mib(baseline.rss)} before, ${mib(peak)} at peak, ${mib(after.rss)} after the TTL (heap ${mib(baseline.heapUsed)} → ${mib(after.heapUsed)})`,
    );
  }, 300_000);
});

describe('memory after the TTL, measured with a forced GC', () => {
  it('returns to its baseline once 10,000 finished jobs have expired', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const heap = (): number => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };

    enableMemory64();
    let skew = 0;
    const now = (): number => Date.now() + skew;
    const store = new MemoryJobStore({ ttlMs: 60_000, maxJobs: 100_000, now });
    const device = new Wasm64Device({
      pool: createWorkerPool({ threads: 2, maxQueue: 4 }),
      store,
      defaultModule: await loadDefaultModule(),
      logger: pino({ level: 'silent' }),
      maxQueue: 500,
      defaultTimeoutMs: 30_000,
      maxTimeoutMs: 30_000,
      sweepIntervalMs: 10,
      now,
    });
    const runBatch = async (from: number, count: number): Promise<Job[]> =>
      Promise.all(Array.from({ length: count }, async (_, i) => device.waitFor((await device.submit(jobFor(from + i).body)).job, 30_000)));

    try {
      await runBatch(0, 500);
      skew += 61_000;
      await new Promise((r) => setTimeout(r, 100));
      const baseline = heap();

      for (let n = 0; n < 10_000; n += 500) {
        const jobs = await runBatch(n, 500);
        expect(jobs.every((j) => j.status === 'completed' || j.error?.code === 'WASM64_TRAP')).toBe(true);
      }
      expect(store.size).toBe(10_000);
      const peak = heap();

      skew += 61_000;
      for (let i = 0; i < 200 && store.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(store.size).toBe(0);
      const after = heap();

      console.log(`heap: ${mib(baseline)} baseline, ${mib(peak)} with 10,000 finished jobs stored, ${mib(after)} after they expired`);
      // The stored jobs must have been visible, or the last check could not fail.
      expect(peak - baseline).toBeGreaterThan(2 * MiB);
      expect(after - baseline).toBeLessThan((peak - baseline) / 5);
    } finally {
      await device.close();
    }
  }, 120_000);
});
