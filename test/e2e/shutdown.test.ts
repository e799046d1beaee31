// Graceful shutdown of the real server process: readiness, refusals, the grace period, terminal states, exit 0.
import { describe, expect, it } from 'vitest';
import { startServer } from '../support/server-process.js';
import type { ServerProcess } from '../support/server-process.js';

type Json = Record<string, any>;

async function submit(server: ServerProcess, code: string): Promise<string> {
  const res = await fetch(`${server.url}/~wasm64@1.0/run`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as Json).id as string;
}

async function job(server: ServerProcess, id: string, wait = 0): Promise<Json> {
  return (await (await fetch(`${server.url}/~wasm64@1.0/status/${id}?wait=${wait}`)).json()) as Json;
}

async function untilRunning(server: ServerProcess, id: string): Promise<void> {
  for (let i = 0; i < 1000 && (await job(server, id)).status !== 'running'; i++) await new Promise((r) => setTimeout(r, 10));
}

describe('shutdown on SIGTERM', () => {
  it('stops admitting at once, lets the running job finish within the grace period, cancels the queued, exits 0', async () => {
    // fib_rec(42) runs for seconds: the checks below happen while it has its grace period.
    const server = await startServer({ POOL_THREADS: '1', SHUTDOWN_GRACE_MS: '120000', LOG_LEVEL: 'debug' });
    const running = await submit(server, 'fib_rec(42)');
    await untilRunning(server, running);
    const waiting = [await submit(server, 'add(1,2)'), await submit(server, 'add(3,4)')];

    server.child.kill('SIGTERM');
    // The server keeps answering while the running job has its grace period.
    await expect.poll(async () => (await fetch(`${server.url}/readyz`)).status).toBe(503);
    const ready = (await (await fetch(`${server.url}/readyz`)).json()) as Json;
    expect(ready).toMatchObject({ code: 'WASM64_NOT_READY', checks: { accepting: false } });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const refused = await fetch(`${server.url}/~wasm64@1.0/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'add(2,3)' }),
    });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ code: 'WASM64_SHUTTING_DOWN' });
    for (const id of waiting) {
      expect(await job(server, id)).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_SHUTDOWN' } });
    }
    expect(await job(server, running)).toMatchObject({ status: 'running' });

    expect(await server.exited).toBe(0);
    // The running job completed within its grace period, before the pool was destroyed.
    const messages = server.logs.map((l) => l.msg);
    const completed = server.logs.findIndex((l) => l.msg === 'job completed' && l.job === running);
    expect(completed).toBeGreaterThanOrEqual(0);
    expect(completed).toBeLessThan(messages.indexOf('every job is terminal; worker pool destroyed'));
    expect(messages).toEqual(expect.arrayContaining(['shutting down', 'every job is terminal; worker pool destroyed', 'stopped']));
    expect(server.logs.find((l) => l.msg === 'shutting down')).toMatchObject({ signal: 'SIGTERM', running: 1, queued: 2 });
    expect(server.logs.find((l) => l.msg === 'every job is terminal; worker pool destroyed')).toMatchObject({
      jobs: { completed: 1, 'cancelled WASM64_SHUTDOWN': 2 },
    });
  });

  it('cancels a job still running when the grace period ends (WASM64_SHUTDOWN), then exits 0', async () => {
    // fib_rec(50) runs for minutes: only the end of the grace period can stop it.
    const server = await startServer({ POOL_THREADS: '1', SHUTDOWN_GRACE_MS: '500' });
    const running = await submit(server, 'fib_rec(50)');
    await untilRunning(server, running);

    server.child.kill('SIGINT');
    expect(await server.exited).toBe(0);
    expect(server.logs.find((l) => l.msg === 'shutting down')).toMatchObject({ signal: 'SIGINT', running: 1, graceMs: 500 });
    expect(server.logs.find((l) => l.job === running && l.msg === 'job cancelled')).toMatchObject({ status: 'cancelled', code: 'WASM64_SHUTDOWN' });
    expect(server.logs.find((l) => l.msg === 'every job is terminal; worker pool destroyed')).toMatchObject({
      jobs: { 'cancelled WASM64_SHUTDOWN': 1 },
    });
    expect(server.logs.at(-1)).toMatchObject({ msg: 'stopped' });
  });
});
