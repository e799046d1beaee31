import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, pollJob } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

const RUN = '/~wasm64@1.0/run';
let t: TestApp;

beforeAll(async () => {
  t = await buildTestApp();
  await t.app.ready();
});
afterAll(async () => t.close());

async function run(body: unknown): Promise<{ status: number; body: Record<string, any>; headers: Record<string, any> }> {
  const res = await t.app.inject({ method: 'POST', url: RUN, payload: body as object });
  return { status: res.statusCode, body: res.json(), headers: res.headers };
}

describe('POST /~wasm64@1.0/run', () => {
  it('accepts add(2,3) with 202, a Location and a queued job that is already in the store', async () => {
    const res = await run({ code: 'add(2,3)' });
    expect(res.status).toBe(202);
    expect(res.headers.location).toBe(`/~wasm64@1.0/status/${res.body.id}`);
    expect(res.body).toEqual({ id: res.body.id, status: 'queued', status_url: res.headers.location });
    expect(t.device.get(res.body.id as string)).toBeDefined();
    const job = await pollJob(t.app, res.body.id);
    expect(job).toMatchObject({ status: 'completed', function: 'add', parameters: [2, 3], result: 5, results: [5] });
    for (const key of ['created_at', 'started_at', 'finished_at']) expect(Date.parse(job[key] as string)).not.toBeNaN();
    expect(job.duration_ms).toBeTypeOf('number');
  });

  it('accepts the HyperBEAM-style function and parameters keys', async () => {
    const res = await run({ function: 'mul', parameters: [6, '7'] });
    expect(res.status).toBe(202);
    expect(await pollJob(t.app, res.body.id)).toMatchObject({ status: 'completed', parameters: [6, 7], result: 42 });
  });

  it('is exact across the i64 range', async () => {
    const res = await run({ code: 'add(9007199254740993, 1)' });
    const job = await pollJob(t.app, res.body.id);
    expect(job).toMatchObject({ result: '9007199254740994', parameters: ['9007199254740993', 1] });
    const min = await pollJob(t.app, (await run({ function: 'sub', parameters: ['-9223372036854775807', 1] })).body.id);
    expect(min.result).toBe('-9223372036854775808');
  });

  it('returns every value of a multi-value result and floats', async () => {
    expect(await pollJob(t.app, (await run({ code: 'divmod(17, 5)' })).body.id)).toMatchObject({ result: 3, results: [3, 2] });
    expect(await pollJob(t.app, (await run({ code: 'addf(0.5, 0.25)' })).body.id)).toMatchObject({ result: 0.75 });
    expect(await pollJob(t.app, (await run({ code: 'sqrt(-1)' })).body.id)).toMatchObject({ result: 'NaN' });
  });

  it('fails a trapping job with the engine message and keeps serving', async () => {
    const job = await pollJob(t.app, (await run({ code: 'div(1,0)' })).body.id);
    expect(job).toMatchObject({ status: 'failed', error: { code: 'WASM64_TRAP', message: 'divide by zero' } });
    expect(job.result).toBeUndefined();
    expect(await pollJob(t.app, (await run({ code: 'add(2,3)' })).body.id)).toMatchObject({ result: 5 });
  });

  it.each([
    [{ code: 'add(2,3' }, 'WASM64_CALL_SYNTAX'],
    [{ code: 'add(2,3);x' }, 'WASM64_CALL_SYNTAX'],
    [{ code: 'nope(1)' }, 'WASM64_UNKNOWN_FUNCTION'],
    [{ code: 'add(1)' }, 'WASM64_PARAMETER_COUNT'],
    [{ code: 'add(1.5, 2)' }, 'WASM64_PARAMETER_TYPE'],
    [{ code: 'add(99999999999999999999, 1)' }, 'WASM64_PARAMETER_TYPE'],
    [{ function: 'add', parameters: [2 ** 60, 1] }, 'WASM64_PARAMETER_TYPE'],
    [{ function: 'add', parameters: [true, 1] }, 'WASM64_BAD_REQUEST'],
    [{ code: 'add(2,3)', function: 'add' }, 'WASM64_CALL_CONFLICT'],
    [{}, 'WASM64_MISSING_FUNCTION'],
    [{ code: 'add(2,3)', extra: 1 }, 'WASM64_BAD_REQUEST'],
    [{ code: 42 }, 'WASM64_BAD_REQUEST'],
  ])('refuses %j with 400 %s and creates no job', async (body, code) => {
    const before = t.store.size;
    const res = await run(body);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 400, code, type: `urn:wasm64:error:${code}` });
    expect(res.body.detail).toBeTypeOf('string');
    expect(t.store.size).toBe(before);
  });

  it('answers malformed JSON, an empty body and other content types with their codes', async () => {
    const bad = await t.app.inject({ method: 'POST', url: RUN, headers: { 'content-type': 'application/json' }, payload: '{bad' });
    expect([bad.statusCode, bad.json().code]).toEqual([400, 'WASM64_MALFORMED_JSON']);
    const empty = await t.app.inject({ method: 'POST', url: RUN, headers: { 'content-type': 'application/json' }, payload: '' });
    expect([empty.statusCode, empty.json().code]).toEqual([400, 'WASM64_EMPTY_BODY']);
    const form = await t.app.inject({ method: 'POST', url: RUN, headers: { 'content-type': 'text/plain' }, payload: 'add(2,3)' });
    expect([form.statusCode, form.json().code]).toEqual([415, 'WASM64_UNSUPPORTED_MEDIA_TYPE']);
    const none = await t.app.inject({ method: 'POST', url: RUN });
    expect([none.statusCode, none.json().code]).toEqual([400, 'WASM64_EMPTY_BODY']);
  });
});

describe('GET /~wasm64@1.0/status/:id', () => {
  it('answers an unknown id with a 404 problem', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/~wasm64@1.0/status/does-not-exist' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ code: 'WASM64_JOB_NOT_FOUND', status: 404 });
  });

  it('answers an unknown route with a 404 problem', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/nowhere' });
    expect([res.statusCode, res.json().code]).toEqual([404, 'WASM64_ROUTE_NOT_FOUND']);
  });
});

describe('over a real socket (supertest)', () => {
  it('matches the device path literally and percent-encoded', async () => {
    const literal = await request(t.app.server).post(RUN).send({ code: 'add(2,3)' }).expect(202);
    expect(literal.headers.location).toMatch(/^\/~wasm64@1\.0\/status\/[\w-]{20,}$/);
    await request(t.app.server).post('/%7Ewasm64%401.0/run').send({ code: 'add(2,3)' }).expect(202);
    const job = await pollJob(t.app, literal.body.id as string);
    expect(job.result).toBe(5);
  });

  it('gives every job a distinct, unguessable id', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) ids.add((await request(t.app.server).post(RUN).send({ code: 'add(1,1)' })).body.id as string);
    expect(ids.size).toBe(50);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22,}$/);
  });
});
