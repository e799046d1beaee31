import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, pollJob } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => t.close());

/** The value of one sample line, e.g. `name{a="b"}`; undefined when the scrape has no such line. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(): Promise<string> {
  const res = await t.app.inject({ url: '/metrics' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.body;
}

describe('GET /metrics', () => {
  it('counts HTTP requests and their latency by method, route pattern and status', async () => {
    for (const code of ['add(2,3)', 'add(3,4)', 'div(1,0)']) {
      const res = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', payload: { code } });
      await pollJob(t.app, res.json<{ id: string }>().id);
    }
    await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', payload: { code: 'nope(' } });
    await t.app.inject({ url: '/~wasm64@1.0/status/no-such-job' });
    await t.app.inject({ url: '/some/unknown/path' });
    const text = await scrape();
    expect(sample(text, 'http_requests_total{method="POST",route="/~wasm64@1.0/run",status_code="202"}')).toBe(3);
    expect(sample(text, 'http_requests_total{method="POST",route="/~wasm64@1.0/run",status_code="400"}')).toBe(1);
    // Route patterns, never raw URLs: ids and unknown paths do not become label values.
    expect(sample(text, 'http_requests_total{method="GET",route="/~wasm64@1.0/status/:id",status_code="404"}')).toBe(1);
    expect(sample(text, 'http_requests_total{method="GET",route="unmatched",status_code="404"}')).toBe(1);
    expect(text).not.toContain('no-such-job');
    expect(text).not.toContain('/some/unknown/path');
    expect(sample(text, 'http_request_duration_seconds_count{method="POST",route="/~wasm64@1.0/run",status_code="202"}')).toBe(3);
    expect(text).toMatch(/^http_request_duration_seconds_bucket\{le="0\.005",method="POST",route="\/~wasm64@1\.0\/run",status_code="202"\} \d+$/m);
  });

  it('counts jobs by final status and code, with their duration and queue wait', async () => {
    // The first test ran add(2,3), add(3,4) and div(1,0); here one more is cancelled while it runs.
    const res = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', payload: { code: 'fib_rec(50)' } });
    const id = res.json<{ id: string }>().id;
    await expect.poll(() => t.device.get(id)?.status).toBe('running');
    await expect.poll(async () => sample(await scrape(), 'wasm64_workers_busy')).toBe(1);
    expect((await t.app.inject({ method: 'POST', url: `/~wasm64@1.0/cancel/${id}` })).statusCode).toBe(200);
    const text = await scrape();
    expect(sample(text, 'wasm64_jobs_total{status="completed",code=""}')).toBe(2);
    expect(sample(text, 'wasm64_jobs_total{status="failed",code="WASM64_TRAP"}')).toBe(1);
    expect(sample(text, 'wasm64_jobs_total{status="cancelled",code="WASM64_CANCELLED"}')).toBe(1);
    // Duration is wasm execution time, known for the three that ran to the end; queue wait for all four that started.
    expect(sample(text, 'wasm64_job_duration_seconds_count')).toBe(3);
    expect(sample(text, 'wasm64_job_duration_seconds_bucket{le="+Inf"}')).toBe(3);
    expect(sample(text, 'wasm64_job_queue_wait_seconds_count')).toBe(4);
    // Cancelling a running job terminates its thread; the pool replaces it.
    await expect.poll(async () => sample(await scrape(), 'wasm64_worker_restarts_total'), { timeout: 10_000 }).toBe(1);
    await expect.poll(async () => sample(await scrape(), 'wasm64_workers_live'), { timeout: 10_000 }).toBe(2);
  });

  it('counts compile-cache hits and misses as the module store does', async () => {
    // The first job on a new module compiles it (a miss); the second reuses it (a hit).
    const before = t.device.modules.stats();
    const wat = '(module (func (export "seven") (result i32) i32.const 7))';
    for (let i = 0; i < 2; i++) {
      const res = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', payload: { wat, function: 'seven' } });
      expect(res.statusCode).toBe(202);
      expect(await pollJob(t.app, res.json<{ id: string }>().id)).toMatchObject({ status: 'completed', result: 7 });
    }
    const text = await scrape();
    const stats = t.device.modules.stats();
    expect(stats).toMatchObject({ misses: before.misses + 1, hits: before.hits + 1, modules: before.modules + 1 });
    expect(sample(text, 'wasm64_compile_cache_hits_total')).toBe(stats.hits);
    expect(sample(text, 'wasm64_compile_cache_misses_total')).toBe(stats.misses);
    expect(sample(text, 'wasm64_module_compiles_total')).toBe(stats.compiles);
    expect(sample(text, 'wasm64_modules_stored')).toBe(stats.modules);
    expect(sample(text, 'wasm64_module_store_bytes')).toBe(stats.bytes);
  });

  it('reports the queue and the workers as they are at the scrape', async () => {
    const text = await scrape();
    expect(sample(text, 'wasm64_queue_depth')).toBe(0);
    expect(sample(text, 'wasm64_workers_live')).toBe(2);
    expect(sample(text, 'wasm64_workers_busy')).toBe(0);
  });

  it('counts the requests held open waiting for jobs, until the jobs settle', async () => {
    expect(sample(await scrape(), 'wasm64_waiting_requests')).toBe(0);
    const res = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', payload: { code: 'fib_rec(50)' } });
    const id = res.json<{ id: string }>().id;
    // A long poll on one job, and a second job whose submission waits for it (Prefer: wait).
    const polled = t.app.inject({ url: `/~wasm64@1.0/status/${id}?wait=30` });
    const submitted = t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', headers: { prefer: 'wait=30' }, payload: { code: 'fib_rec(50)' } });
    await expect.poll(async () => sample(await scrape(), 'wasm64_waiting_requests')).toBe(2);
    expect((await t.app.inject({ method: 'POST', url: `/~wasm64@1.0/cancel/${id}` })).statusCode).toBe(200);
    expect((await polled).json<{ status: string }>().status).toBe('cancelled');
    expect(sample(await scrape(), 'wasm64_waiting_requests')).toBe(1);
    const newest = t.device.list({ limit: 1 }).jobs[0]; // the job the second request submitted
    expect(newest?.id).not.toBe(id);
    expect((await t.app.inject({ method: 'POST', url: `/~wasm64@1.0/cancel/${newest?.id ?? 'none'}` })).statusCode).toBe(200);
    expect((await submitted).json<{ status: string }>().status).toBe('cancelled');
    expect(sample(await scrape(), 'wasm64_waiting_requests')).toBe(0);
  });

  it('includes the process metrics', async () => {
    const text = await scrape();
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes']) {
      expect(sample(text, name), name).toBeGreaterThan(0);
    }
    expect(sample(text, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  });
});
