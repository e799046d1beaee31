import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, pollJob } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

const PROCESS = await readFile('test/fixtures/ao/process.wat', 'utf8');
const I = '/~wasm64@1.0/instances';

interface Output { count: number; log_bytes: number; hash: string; random: string; time_us: number }
type JobBody = Record<string, unknown> & { status: string; result?: unknown; error?: { code: string } };

/** FNV-1a 64 of each string followed by a 0 byte, as the process keeps it. */
function fnv(strings: string[]): string {
  let h = 0xcbf29ce484222325n;
  for (const s of strings) for (const b of [...Buffer.from(s), 0]) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h.toString(16).padStart(16, '0');
}

async function create(t: TestApp, body: object = { wat: PROCESS }): Promise<Record<string, unknown> & { instance_id: string }> {
  const res = await t.app.inject({ method: 'POST', url: I, payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

async function send(t: TestApp, instance: string, message: unknown, extra: object = {}): Promise<JobBody> {
  const res = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', headers: { prefer: 'wait=20' }, payload: { instance_id: instance, message, ...extra } });
  expect(res.statusCode, res.body).toBeLessThan(300);
  const body = res.json<JobBody>();
  return res.statusCode === 200 ? body : (pollJob(t.app, body.id as string, 20_000) as Promise<JobBody>);
}

const output = (job: JobBody): Output => {
  expect(job.status, JSON.stringify(job)).toBe('completed');
  return job.result as Output;
};

async function refused(t: TestApp, method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object): Promise<{ status: number; code: string }> {
  const res = await t.app.inject({ method, url, ...(payload === undefined ? {} : { payload }) });
  expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
  return { status: res.statusCode, code: res.json<{ code: string }>().code };
}

describe('AO process instances', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ instanceCheckpointMessages: 4 });
  });
  afterAll(async () => t.close());

  it('creates an instance, runs _initialize once, and keeps its state across messages', async () => {
    const created = await create(t);
    expect(created).toMatchObject({ resident: true, messages: 0, init: '_initialize', wasi: { deterministic: true, seed: 0 }, queued: 0 });
    const id = created.instance_id;
    const first = output(await send(t, id, { action: 'Eval', data: 'one' }, { env: { Process: { Id: 'p' } } }));
    const second = output(await send(t, id, { action: 'Eval', data: 'two' }));
    expect(first.count).toBe(1);
    expect(second).toMatchObject({ count: 2, hash: fnv(['{"action":"Eval","data":"one"}', '{"Process":{"Id":"p"}}', '{"action":"Eval","data":"two"}', '{}']) });
    expect(second.log_bytes).toBe(first.log_bytes * 2);
    const job = await send(t, id, { n: 3 });
    expect(job).toMatchObject({ instance_id: id, function: 'handle', status: 'completed' });
    const count = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', headers: { prefer: 'wait=20' }, payload: { instance_id: id, code: 'count()' } });
    expect(count.json()).toMatchObject({ status: 'completed', result: 3 });
    const shown = await t.app.inject({ method: 'GET', url: `${I}/${id}` });
    expect(shown.json()).toMatchObject({ instance_id: id, messages: 4 });
  });

  it('runs concurrent submissions to one instance one at a time, in submission order', async () => {
    const { instance_id: id } = await create(t);
    const messages = Array.from({ length: 24 }, (_, n) => ({ n }));
    const accepted = await Promise.all(messages.map((message) => t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', payload: { instance_id: id, message } })));
    const jobs = await Promise.all(accepted.map((res) => pollJob(t.app, res.json<{ id: string }>().id, 20_000) as Promise<JobBody>));
    // The submission order is the device's: GET /jobs lists newest first.
    const listed = await t.app.inject({ method: 'GET', url: '/~wasm64@1.0/jobs?limit=1000' });
    const order = listed.json<{ jobs: JobBody[] }>().jobs.filter((j) => j.instance_id === id).reverse();
    expect(order.map((j) => (j.result as Output).count)).toEqual(messages.map((_, n) => n + 1));
    const sent = order.flatMap((j) => [(j.parameters as { string: string }[])[0]!.string, '{}']);
    expect((order.at(-1)!.result as Output).hash).toBe(fnv(sent));
    expect(jobs.every((j) => j.status === 'completed')).toBe(true);
  });

  it('keeps instances apart and runs them on their lanes in parallel', async () => {
    const a = await create(t);
    const b = await create(t);
    expect(a.lane).not.toBe(b.lane);
    const [ra, rb] = await Promise.all([send(t, a.instance_id, { to: 'a' }), send(t, b.instance_id, { to: 'b' })]);
    expect(output(ra).count).toBe(1);
    expect(output(rb).count).toBe(1);
    expect(output(ra).hash).not.toBe(output(rb).hash);
  });

  it('leaves the instance at its last good state after a trap (no half-written message)', async () => {
    const { instance_id: id } = await create(t);
    const before = output(await send(t, id, { n: 1 }));
    const trapped = await send(t, id, { do: 'trap' });
    expect(trapped).toMatchObject({ status: 'failed', error: { code: 'WASM64_TRAP' } });
    const after = output(await send(t, id, { n: 2 }));
    expect(after.count).toBe(before.count + 1);
    expect(after.hash).toBe(fnv(['{"n":1}', '{}', '{"n":2}', '{}']));
    expect(after.log_bytes).toBe(before.log_bytes * 2);
  });

  it('rolls back a timed-out or cancelled message, and rebuilds the other instances of its lane', async () => {
    const { instance_id: id, lane } = await create(t);
    let neighbour = await create(t);
    while (neighbour.lane !== lane) neighbour = await create(t);
    // More messages than INSTANCE_CHECKPOINT_MESSAGES: the rebuild replays from a checkpoint, not from creation.
    for (let n = 0; n < 6; n++) await send(t, neighbour.instance_id, { n });
    await send(t, id, { n: 1 });
    expect(await send(t, id, { do: 'spin' }, { timeout_ms: 300 })).toMatchObject({ status: 'failed', error: { code: 'WASM64_TIMEOUT' } });
    expect(output(await send(t, id, { n: 2 })).count).toBe(2);
    expect(output(await send(t, neighbour.instance_id, { n: 6 }))).toMatchObject({ count: 7, hash: fnv([0, 1, 2, 3, 4, 5, 6].flatMap((n) => [`{"n":${n}}`, '{}'])) });

    const spinning = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', payload: { instance_id: id, message: 'spin' } });
    const spinId = spinning.json<{ id: string }>().id;
    for (let i = 0; i < 200 && (await t.app.inject({ method: 'GET', url: `/~wasm64@1.0/status/${spinId}` })).json<JobBody>().status !== 'running'; i++) await new Promise((r) => setTimeout(r, 10));
    const cancelled = await t.app.inject({ method: 'POST', url: `/~wasm64@1.0/cancel/${spinId}` });
    expect(cancelled.json()).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_CANCELLED' } });
    expect(output(await send(t, id, { n: 3 }))).toMatchObject({ count: 3, hash: fnv(['{"n":1}', '{}', '{"n":2}', '{}', '{"n":3}', '{}']) });
  });

  it('snapshots, restores an identical instance, and replays the same messages to the same results', async () => {
    const { instance_id: id } = await create(t, { wat: PROCESS, wasi: { seed: 'replay' } });
    for (let n = 0; n < 3; n++) await send(t, id, { n });
    const snap = await t.app.inject({ method: 'GET', url: `${I}/${id}/snapshot` });
    expect(snap.statusCode, snap.body).toBe(200);
    const snapshot = snap.json<Record<string, unknown>>();
    expect(snapshot).toMatchObject({ format: 'wasm64-instance-snapshot/1', compression: 'deflate', messages: 3, memory_bytes: 2 * 65_536 });
    expect(snapshot.hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    const next = [{ n: 3 }, { n: 4, text: 'héllo' }, { n: 5 }];
    const original: Output[] = [];
    for (const m of next) original.push(output(await send(t, id, m)));
    const restored = await create(t, { snapshot });
    expect(restored).toMatchObject({ messages: 3, init: null, wasi: { seed: 'replay' } });
    const replayed: Output[] = [];
    for (const m of next) replayed.push(output(await send(t, restored.instance_id, m)));
    expect(replayed).toEqual(original);
    expect(new Set(original.map((o) => o.random)).size).toBe(3);
  });

  it('carries unexported mutable globals in snapshots (the service exports them)', async () => {
    // The count lives in an unexported global: without it in the snapshot, a restore would start again at 0.
    const wat = '(module (memory (export "memory") 1) (global $n (mut i32) (i32.const 0)) (data (i32.const 16) "{\\"n\\":0}")'
      + ' (func (export "malloc") (param i32) (result i32) (i32.const 1024))'
      + ' (func (export "handle") (param i32 i32) (result i32) (global.set $n (i32.add (global.get $n) (i32.const 1)))'
      + ' (i32.store8 (i32.const 21) (i32.add (i32.const 48) (global.get $n))) (i32.const 16)))';
    const { instance_id: id } = await create(t, { wat });
    for (let n = 1; n <= 3; n++) expect((await send(t, id, {})).result).toEqual({ n });
    const snapshot = (await t.app.inject({ method: 'GET', url: `${I}/${id}/snapshot` })).json<{ globals: unknown[] }>();
    expect(snapshot.globals).toEqual([{ name: '__wasm64_global_0', kind: 'number', value: '3' }]);
    const restored = await create(t, { snapshot });
    expect((await send(t, restored.instance_id, {})).result).toEqual({ n: 4 });
  });

  it('refuses snapshots that do not match their hash or module', async () => {
    const { instance_id: id } = await create(t);
    await send(t, id, { n: 1 });
    const snapshot = (await t.app.inject({ method: 'GET', url: `${I}/${id}/snapshot` })).json<Record<string, unknown>>();
    expect(await refused(t, 'POST', I, { snapshot: { ...snapshot, hash: `sha256:${'0'.repeat(64)}` } })).toEqual({ status: 400, code: 'WASM64_INSTANCE_SNAPSHOT' });
    expect(await refused(t, 'POST', I, { snapshot, code: 'x' })).toEqual({ status: 400, code: 'WASM64_BAD_REQUEST' });
    expect(await refused(t, 'POST', I, { snapshot, wat: '(module (memory (export "memory") 2))' })).toEqual({ status: 400, code: 'WASM64_INSTANCE_SNAPSHOT' });
    expect(await refused(t, 'POST', I, { snapshot, memory_limit: 1 << 20 })).toEqual({ status: 400, code: 'WASM64_INSTANCE_CONFLICT' });
  });

  it('answers stable codes for what a request gets wrong', async () => {
    const { instance_id: id } = await create(t);
    const plain = await create(t, {});
    expect(await refused(t, 'GET', `${I}/nope`)).toEqual({ status: 404, code: 'WASM64_INSTANCE_NOT_FOUND' });
    expect(await refused(t, 'GET', `${I}/nope/snapshot`)).toEqual({ status: 404, code: 'WASM64_INSTANCE_NOT_FOUND' });
    expect(await refused(t, 'DELETE', `${I}/nope`)).toEqual({ status: 404, code: 'WASM64_INSTANCE_NOT_FOUND' });
    const run = (payload: object) => refused(t, 'POST', '/~wasm64@1.0/run', payload);
    expect(await run({ instance_id: 'nope', message: {} })).toEqual({ status: 404, code: 'WASM64_INSTANCE_NOT_FOUND' });
    expect(await run({ instance_id: id, message: {}, wat: PROCESS })).toEqual({ status: 400, code: 'WASM64_INSTANCE_CONFLICT' });
    expect(await run({ instance_id: id, message: {}, fuel: 10 })).toEqual({ status: 400, code: 'WASM64_INSTANCE_CONFLICT' });
    expect(await run({ instance_id: id, message: {}, code: 'count()' })).toEqual({ status: 400, code: 'WASM64_CALL_CONFLICT' });
    expect(await run({ instance_id: id })).toEqual({ status: 400, code: 'WASM64_MISSING_FUNCTION' });
    expect(await run({ message: {} })).toEqual({ status: 400, code: 'WASM64_INSTANCE_CONFLICT' });
    expect(await run({ instance_id: plain.instance_id, message: {} })).toEqual({ status: 400, code: 'WASM64_INSTANCE_HANDLE' });
    expect(await run({ instance_id: id, code: 'nothing()' })).toEqual({ status: 400, code: 'WASM64_UNKNOWN_FUNCTION' });
    expect(await refused(t, 'POST', I, { wat: PROCESS, init: '_start' })).toEqual({ status: 400, code: 'WASM64_UNKNOWN_FUNCTION' });
    expect(await refused(t, 'POST', I, { wat: '(module (func (export "_initialize") unreachable))' })).toEqual({ status: 422, code: 'WASM64_INSTANCE_INIT' });
    expect(await refused(t, 'POST', I, { wat: PROCESS, wasi: { env: { 'A=B': 'c' } } })).toEqual({ status: 400, code: 'WASM64_WASI_OPTIONS' });
  });

  it('fails a message the process answers with something that is not JSON, and keeps the state', async () => {
    const wat = '(module (memory (export "memory") 1) (global $n (export "n") (mut i32) (i32.const 0)) (data (i32.const 16) "{\\"n\\":")'
      + ' (func (export "malloc") (param i32) (result i32) (i32.const 1024))'
      + ' (func (export "handle") (param i32 i32) (result i32) (global.set $n (i32.add (global.get $n) (i32.const 1)))'
      + ' (i32.store8 (i32.const 21) (i32.add (i32.const 48) (global.get $n))) (i32.store8 (i32.const 22) (i32.const 125))'
      + ' (if (i32.eq (global.get $n) (i32.const 2)) (then (i32.store8 (i32.const 22) (i32.const 0)))) (i32.const 16)))';
    const { instance_id: id } = await create(t, { wat });
    expect((await send(t, id, {})).result).toEqual({ n: 1 });
    expect(await send(t, id, {})).toMatchObject({ status: 'failed', error: { code: 'WASM64_INSTANCE_OUTPUT' } });
    expect((await send(t, id, {})).result).toEqual({ n: 3 });
  });

  it('deletes an instance: its waiting jobs end cancelled, its id is gone', async () => {
    const { instance_id: id } = await create(t);
    const spin = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', payload: { instance_id: id, message: 'spin' } });
    const waiting = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', payload: { instance_id: id, message: {} } });
    const deleted = await t.app.inject({ method: 'DELETE', url: `${I}/${id}` });
    expect(deleted.statusCode).toBe(200);
    for (const res of [spin, waiting]) {
      expect(await pollJob(t.app, res.json<{ id: string }>().id)).toMatchObject({ status: 'cancelled', error: { code: 'WASM64_CANCELLED' } });
    }
    expect(await refused(t, 'GET', `${I}/${id}`)).toEqual({ status: 404, code: 'WASM64_INSTANCE_NOT_FOUND' });
    const list = await t.app.inject({ method: 'GET', url: I });
    expect(list.json<{ instances: { instance_id: string }[] }>().instances.map((i) => i.instance_id)).not.toContain(id);
  });
});

describe('instance bounds', () => {
  it('evicts the least recently used idle instance to a snapshot and restores it on its next job', async () => {
    const t = await buildTestApp({ instanceLiveMax: 2, instanceLanes: 1 });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const { instance_id: id } = await create(t);
        ids.push(id);
        await send(t, id, { i });
      }
      const list = (await t.app.inject({ method: 'GET', url: I })).json<{ instances: { instance_id: string; resident: boolean }[]; live: number }>();
      expect(list.live).toBe(2);
      expect(list.instances.find((i) => i.instance_id === ids[0])).toMatchObject({ resident: false });
      expect(output(await send(t, ids[0]!, { again: true }))).toMatchObject({ count: 2, hash: fnv(['{"i":0}', '{}', '{"again":true}', '{}']) });
      const after = (await t.app.inject({ method: 'GET', url: I })).json<{ instances: { instance_id: string; resident: boolean }[]; live: number }>();
      expect(after.instances.find((i) => i.instance_id === ids[0])).toMatchObject({ resident: true });
      expect(after.live).toBe(2);
    } finally {
      await t.close();
    }
  });

  it('evicts by memory bytes too', async () => {
    const t = await buildTestApp({ instanceLiveMaxBytes: 5 * 65_536, instanceLanes: 1 });
    try {
      const a = await create(t);
      const b = await create(t);
      const grown = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', headers: { prefer: 'wait=20' }, payload: { instance_id: b.instance_id, code: 'grow(2)' } });
      expect(grown.json()).toMatchObject({ status: 'completed', result: 4 });
      const list = (await t.app.inject({ method: 'GET', url: I })).json<{ instances: { instance_id: string; resident: boolean; memory_bytes: number }[]; live_bytes: number }>();
      expect(list.live_bytes).toBeLessThanOrEqual(5 * 65_536);
      expect(list.instances.find((i) => i.instance_id === a.instance_id)).toMatchObject({ resident: false });
    } finally {
      await t.close();
    }
  });

  it('refuses a new instance beyond MAX_INSTANCES', async () => {
    const t = await buildTestApp({ instanceMax: 1 });
    try {
      await create(t);
      expect(await refused(t, 'POST', I, { wat: PROCESS })).toEqual({ status: 409, code: 'WASM64_INSTANCE_LIMIT' });
    } finally {
      await t.close();
    }
  });
});

describe('instance initialisation', () => {
  it('fails creation with WASM64_INSTANCE_INIT when init runs past DEFAULT_TIMEOUT_MS, and keeps serving', async () => {
    const t = await buildTestApp({ jobTimeoutMs: 300, instanceLanes: 1 });
    try {
      const res = await t.app.inject({ method: 'POST', url: I, payload: { wat: '(module (func (export "_initialize") (loop $l (br $l))))' } });
      expect(res.statusCode).toBe(422);
      expect(res.json()).toMatchObject({ code: 'WASM64_INSTANCE_INIT' });
      expect(res.json<{ detail: string }>().detail).toMatch(/DEFAULT_TIMEOUT_MS/);
      const list = await t.app.inject({ method: 'GET', url: I });
      expect(list.json()).toMatchObject({ instances: [], live: 0 });
      const { instance_id: id } = await create(t);
      expect(output(await send(t, id, { after: 'timeout' })).count).toBe(1);
    } finally {
      await t.close();
    }
  });
});

describe('instance limits and commands', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ instanceLanes: 1 });
  });
  afterAll(async () => t.close());

  it('meters each call with the instance fuel; a call that runs out is rolled back', async () => {
    const { instance_id: id, fuel } = await create(t, { wat: PROCESS, fuel: 20_000 });
    expect(fuel).toBe(20_000);
    const first = await send(t, id, { n: 1 });
    expect(first).toMatchObject({ status: 'completed', fuel: 20_000 });
    expect(first.fuel_used as number).toBeGreaterThan(0);
    // A long message costs more fuel than a call gets: it fails, and leaves nothing behind.
    expect(await send(t, id, { text: 'x'.repeat(5000) })).toMatchObject({ status: 'failed', error: { code: 'WASM64_FUEL_EXHAUSTED' }, fuel_used: 20_000 });
    expect(output(await send(t, id, { n: 2 }))).toMatchObject({ count: 2, hash: fnv(['{"n":1}', '{}', '{"n":2}', '{}']) });
  });

  it('caps the instance memory at its memory_limit', async () => {
    const { instance_id: id, memory_limit: limit } = await create(t, { wat: PROCESS, memory_limit: 4 * 65_536 });
    expect(limit).toBe(4 * 65_536);
    const grow = (pages: number) => t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', headers: { prefer: 'wait=20' }, payload: { instance_id: id, code: `grow(${pages})` } });
    expect((await grow(2)).json()).toMatchObject({ status: 'completed', result: 4 });
    expect((await grow(1)).json()).toMatchObject({ status: 'failed', error: { code: 'WASM64_MEMORY_LIMIT' } });
    expect(output(await send(t, id, { n: 1 })).count).toBe(1);
  });

  it('runs a WASI command\'s _start once when asked (the C demo), with the instance\'s args and environment', async () => {
    const module = (await readFile('test/fixtures/c/demo.wasm')).toString('base64');
    const created = await create(t, { module, init: '_start', wasi: { args: ['one'], env: { NAME: 'instance' } } });
    expect(created).toMatchObject({ init: '_start', init_result: { exit_code: 0, stdout: expect.stringContaining('argv[1]=one') } });
    expect((created.init_result as { stdout: string }).stdout).toContain('hello, instance!');
  });
});
