// The real server, as a user runs it: a process listening on a real port, spoken to with fetch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../support/server-process.js';
import type { ServerProcess } from '../support/server-process.js';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.stop();
});

async function submit(body: unknown): Promise<Response> {
  return fetch(`${server.url}/~wasm64@1.0/run`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function poll(location: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 500; i++) {
    const job = (await (await fetch(`${server.url}${location}`)).json()) as Record<string, unknown>;
    if (job.status !== 'queued' && job.status !== 'running') return job;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('job did not finish');
}

describe('the service end to end', () => {
  it('runs add(2,3) to completed with result 5', async () => {
    const res = await submit({ code: 'add(2,3)' });
    expect(res.status).toBe(202);
    const location = res.headers.get('location')!;
    const accepted = (await res.json()) as Record<string, unknown>;
    expect(location).toBe(`/~wasm64@1.0/status/${String(accepted.id)}`);
    expect(await poll(location)).toMatchObject({ status: 'completed', function: 'add', parameters: [2, 3], result: 5, results: [5] });
  });

  it('fails a trap, stays up, and is exact for big i64', async () => {
    const trap = await poll((await submit({ code: 'div(1,0)' })).headers.get('location')!);
    expect(trap).toMatchObject({ status: 'failed', error: { code: 'WASM64_TRAP', message: 'divide by zero' } });
    const big = await poll((await submit({ code: 'add(9007199254740993,1)' })).headers.get('location')!);
    expect(big).toMatchObject({ status: 'completed', result: '9007199254740994' });
  });

  it('answers an unknown job with a 404 problem', async () => {
    const res = await fetch(`${server.url}/~wasm64@1.0/status/unknown`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await res.json()).toMatchObject({ code: 'WASM64_JOB_NOT_FOUND' });
  });

  it('logs one line per request, naming the job on a run', async () => {
    const id = String(((await (await submit({ code: 'add(1,1)' })).json()) as Record<string, unknown>).id);
    await new Promise((r) => setTimeout(r, 100));
    const lines = server.logs.filter((l) => l.job === id);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'request completed', url: '/~wasm64@1.0/run', status: 202 });
  });
});
