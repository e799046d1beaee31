// AO processes through the real server over a real socket: state across messages, a timeout rolled back,
// eviction and transparent restore, snapshot then restore then identical answers, shutdown with an instance job running.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../support/server-process.js';
import type { ServerProcess } from '../support/server-process.js';

const P = '/~wasm64@1.0';
let server: ServerProcess;
let wat: string;

interface Answer { count: number; log_bytes: number; hash: string; random: string; time_us: number }

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${P}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function create(body: unknown): Promise<string> {
  const { status, json } = await call('POST', '/instances', body);
  expect(status, JSON.stringify(json)).toBe(201);
  return json.instance_id as string;
}

async function send(instance: string, message: unknown, extra: object = {}): Promise<Record<string, unknown>> {
  const { status, json } = await call('POST', '/run', { instance_id: instance, message, ...extra }, { prefer: 'wait=30' });
  expect(status, JSON.stringify(json)).toBe(200);
  return json;
}

const answer = (job: Record<string, unknown>): Answer => {
  expect(job.status, JSON.stringify(job)).toBe('completed');
  return job.result as Answer;
};

beforeAll(async () => {
  wat = await readFile('test/fixtures/ao/process.wat', 'utf8');
  server = await startServer({ INSTANCE_LANES: '1', MAX_LIVE_INSTANCES: '1', INSTANCE_CHECKPOINT_MESSAGES: '3' });
});
afterAll(async () => {
  await server.stop();
});

describe('an AO process on the real server', () => {
  it('keeps state across messages, rolls back a timeout, and survives eviction', async () => {
    const a = await create({ wat });
    for (let n = 1; n <= 4; n++) expect(answer(await send(a, { n })).count).toBe(n);
    expect(await send(a, 'spin', { timeout_ms: 300 })).toMatchObject({ status: 'failed', error: { code: 'WASM64_TIMEOUT' } });
    expect(answer(await send(a, { n: 5 })).count).toBe(5);
    // A second instance on a service that keeps one resident: the first is evicted to a snapshot...
    const b = await create({ wat });
    expect(answer(await send(b, { n: 1 })).count).toBe(1);
    const listed = await call('GET', '/instances');
    expect(listed.json).toMatchObject({ live: 1 });
    expect((listed.json.instances as { instance_id: string; resident: boolean }[]).find((i) => i.instance_id === a)).toMatchObject({ resident: false });
    // ...and restored on its next message, as it was.
    expect(answer(await send(a, { n: 6 })).count).toBe(6);
    expect((await call('GET', `/instances/${a}`)).json).toMatchObject({ resident: true, messages: 6 });
  });

  it('restores a snapshot into an identical instance that answers the same messages the same way', async () => {
    const id = await create({ wat, wasi: { seed: 42 } });
    for (let n = 0; n < 2; n++) await send(id, { n });
    const { status, json: snapshot } = await call('GET', `/instances/${id}/snapshot`);
    expect(status).toBe(200);
    expect(snapshot).toMatchObject({ messages: 2, compression: 'deflate' });
    const messages = [{ Action: 'Transfer', Quantity: 1 }, { Action: 'Balance' }, { Action: 'Transfer', Quantity: 2 }];
    const original: Answer[] = [];
    for (const m of messages) original.push(answer(await send(id, m)));
    await call('DELETE', `/instances/${id}`);
    expect((await call('GET', `/instances/${id}`)).json).toMatchObject({ code: 'WASM64_INSTANCE_NOT_FOUND' });
    const restored = await create({ snapshot });
    const replayed: Answer[] = [];
    for (const m of messages) replayed.push(answer(await send(restored, m)));
    expect(replayed).toEqual(original);
  });
});

describe('shutdown with instances', () => {
  it('ends a running instance job cancelled (WASM64_SHUTDOWN) and exits 0', async () => {
    const other = await startServer({ INSTANCE_LANES: '1', SHUTDOWN_GRACE_MS: '200' });
    const base = `${other.url}${P}`;
    const post = async (path: string, body: unknown): Promise<Record<string, unknown>> =>
      (await (await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as Record<string, unknown>;
    const { instance_id: id } = await post('/instances', { wat });
    const { id: job } = await post('/run', { instance_id: id, message: 'spin' });
    const waited = fetch(`${base}/status/${String(job)}?wait=30`).then(async (r) => (await r.json()) as Record<string, unknown>);
    for (let i = 0; i < 200; i++) {
      const status = ((await (await fetch(`${base}/status/${String(job)}`)).json()) as { status: string }).status;
      if (status === 'running') break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const code = other.stop('SIGTERM');
    expect(await waited).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_SHUTDOWN' } });
    expect(await code).toBe(0);
  });
});
