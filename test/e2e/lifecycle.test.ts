// The job lifecycle against the real server process: waits, cancel, timeout, idempotency, backpressure, shutdown.
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../support/server-process.js';
import type { ServerProcess } from '../support/server-process.js';

const P = '/~wasm64@1.0';
type Body = Record<string, any>;
/** fib_rec(60) of the default module: naive recursion that would run for hours, a job only a cancel or a timeout ends. */
const ENDLESS = { code: 'fib_rec(60)' };

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer({ POOL_THREADS: '1', POOL_MAX_QUEUE: '3', WAIT_MAX_SECONDS: '10', SHUTDOWN_GRACE_MS: '200' });
});
afterAll(async () => {
  await server.stop();
});

async function send(method: string, path: string, body?: object, headers: Record<string, string> = {}): Promise<{ status: number; body: Body; headers: Headers }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Body, headers: res.headers };
}

describe('the job lifecycle end to end', () => {
  it('answers Prefer: wait with the finished job', async () => {
    const res = await send('POST', `${P}/run`, { code: 'add(2,3)' }, { prefer: 'wait=5' });
    expect(res.status).toBe(200);
    expect(res.headers.get('preference-applied')).toBe('wait=5');
    expect(res.body).toMatchObject({ status: 'completed', result: 5 });
  });

  it('cancels a running job, terminating its thread, and serves the next job', async () => {
    const { body: accepted } = await send('POST', `${P}/run`, ENDLESS);
    const polled = await send('GET', `${P}/status/${accepted.id}?wait=0.3`);
    expect(polled.body.status).toBe('running');
    const cancelled = await send('POST', `${P}/cancel/${accepted.id}`);
    expect(cancelled).toMatchObject({ status: 200, body: { status: 'cancelled', error: { code: 'WASM64_CANCELLED' } } });
    expect((await send('POST', `${P}/cancel/${accepted.id}`)).body.code).toBe('WASM64_JOB_FINISHED');
    const next = await send('POST', `${P}/run`, { code: 'mul(6,7)' }, { prefer: 'wait=10' });
    expect(next).toMatchObject({ status: 200, body: { status: 'completed', result: 42 } });
  });

  it('fails a job past its timeout_ms with WASM64_TIMEOUT', async () => {
    const res = await send('POST', `${P}/run`, { ...ENDLESS, timeout_ms: 200 }, { prefer: 'wait=10' });
    expect(res).toMatchObject({ status: 200, body: { status: 'failed', error: { code: 'WASM64_TIMEOUT' } } });
  });

  it('returns the same job for a repeated Idempotency-Key and refuses it with another body', async () => {
    const headers = { 'idempotency-key': `e2e-${Date.now()}` };
    const first = await send('POST', `${P}/run`, { code: 'add(1,1)' }, headers);
    const again = await send('POST', `${P}/run`, { code: 'add(1,1)' }, headers);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const other = await send('POST', `${P}/run`, { code: 'add(1,2)' }, headers);
    expect(other.status).toBe(422);
    expect(other.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(other.body.code).toBe('WASM64_IDEMPOTENCY_MISMATCH');
    expect((await send('GET', `${P}/status/${first.body.id}?wait=10`)).body.status).toBe('completed');
  });

  it('refuses with 429 when the queue is full, then shuts down leaving every accepted job terminal', async () => {
    const isLive = (j: Body): boolean => j.status === 'queued' || j.status === 'running';
    // Earlier tests left nothing running: the slots counted below are all free.
    expect(((await send('GET', `${P}/jobs?limit=100`)).body.jobs as Body[]).filter(isLive)).toHaveLength(0);
    const accepted: string[] = [];
    let refused: { status: number; body: Body; headers: Headers } | undefined;
    // One running, one ready behind it, then POOL_MAX_QUEUE (3) in the queue: the sixth is refused.
    for (let i = 0; i < 6 && refused === undefined; i++) {
      const res = await send('POST', `${P}/run`, ENDLESS);
      if (res.status === 202) accepted.push(res.body.id as string);
      else refused = res;
    }
    expect(accepted).toHaveLength(5);
    expect(refused?.status).toBe(429);
    expect(refused?.headers.get('retry-after')).toBe('1');
    expect(refused?.body.code).toBe('WASM64_QUEUE_FULL');
    const live = await send('GET', `${P}/jobs?limit=10`);
    expect((live.body.jobs as Body[]).filter(isLive)).toHaveLength(5);

    expect(await server.stop('SIGTERM')).toBe(0);
    const stdout = server.child.stdout!;
    if (!stdout.closed) await once(stdout, 'close');
    for (const id of accepted) {
      expect(server.logs.some((l) => l.job === id && l.status === 'cancelled' && l.code === 'WASM64_SHUTDOWN')).toBe(true);
    }
  });
});
