import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileWat } from '../../src/wasm/wat.js';
import { buildTestApp, pollJob } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

const P = '/~wasm64@1.0';
let t: TestApp;

beforeAll(async () => {
  t = await buildTestApp({ moduleMaxBytes: 4096, moduleStoreMax: 3, moduleStoreMaxBytes: 8192 });
  await t.app.ready();
});
afterAll(async () => t.close());

const wat = async (name: string): Promise<string> => readFile(`test/fixtures/${name}.wat`, 'utf8');
const wasm = async (name: string): Promise<Buffer> => Buffer.from(await compileWat(await wat(name)));

async function upload(payload: Buffer | object) {
  const res = await t.app.inject({
    method: 'POST',
    url: `${P}/modules`,
    ...(Buffer.isBuffer(payload) ? { headers: { 'content-type': 'application/wasm' }, payload } : { payload }),
  });
  return { status: res.statusCode, body: res.json<Record<string, any>>(), headers: res.headers };
}

describe('POST /~wasm64@1.0/modules', () => {
  it('stores a raw wasm module and describes it: id, exports with signatures, memory, imports, compile counters', async () => {
    const bytes = await wasm('types64');
    const res = await upload(bytes);
    expect(res.status).toBe(201);
    expect(res.body.module_id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(res.headers.location).toBe(`${P}/modules/${res.body.module_id}`);
    expect(res.body).toMatchObject({
      size: bytes.length,
      memory: { index: 'i64', min: 1, max: 4 },
      imports: [],
      cache: { compiles: 1, hits: 0, misses: 0 },
    });
    expect(res.body.exports).toContainEqual({ name: 'reverse', params: ['i32', 'i64', 'f32', 'f64'], results: ['f64', 'f32', 'i64', 'i32'] });
    const again = await t.app.inject({ method: 'GET', url: res.headers.location as string });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(res.body);
  });

  it('is content-addressed: the same bytes as base64 or as WAT give the same id, answered 200', async () => {
    const bytes = await wasm('types32');
    const first = await upload({ module: bytes.toString('base64') });
    expect(first.status).toBe(201);
    const second = await upload({ wat: await wat('types32') });
    expect(second.status).toBe(200);
    expect(second.body.module_id).toBe(first.body.module_id);
    expect(first.body.memory).toEqual({ index: 'i32', min: 1, max: 4 });
  });

  it('runs a stored module by id; the first job compiles its capped variant, a second compiles nothing', async () => {
    // grower32 declares no maximum, so a job runs it rewritten for its memory limit: one compile, then reuse.
    const { body: stored } = await upload(await wasm('grower32'));
    const cache = async () => (await t.app.inject({ method: 'GET', url: `${P}/modules/${stored.module_id}` })).json<{ cache: unknown }>().cache;
    const run = async () => (await t.app.inject({ method: 'POST', url: `${P}/run`, payload: { module_id: stored.module_id, code: 'grow(1)' } })).json<{ id: string }>();
    expect(await cache()).toEqual({ compiles: 1, hits: 0, misses: 0 });
    expect(await pollJob(t.app, (await run()).id)).toMatchObject({ status: 'completed', result: 1, module_id: stored.module_id });
    expect(await cache()).toEqual({ compiles: 2, hits: 0, misses: 1 });
    const storeBefore = t.device.modules.stats();
    expect(await pollJob(t.app, (await run()).id)).toMatchObject({ status: 'completed', result: 1 });
    expect(await cache()).toEqual({ compiles: 2, hits: 1, misses: 1 });
    expect(t.device.modules.stats()).toMatchObject({ compiles: storeBefore.compiles, hits: storeBefore.hits + 1 });
  });

  it('refuses invalid wasm with the engine\'s message, and invalid WAT with the compiler\'s, storing nothing', async () => {
    const before = t.device.modules.stats();
    const garbage = await upload(Buffer.from('\0asm\x01\0\0\0\x01\xff\xff', 'latin1'));
    expect(garbage.status).toBe(400);
    expect(garbage.body.code).toBe('WASM64_INVALID_MODULE');
    expect(garbage.body.detail).toMatch(/WebAssembly\.compile\(\)/);
    const text = await upload({ wat: '(module (func (result i32)))' });
    expect([text.status, text.body.code]).toEqual([400, 'WASM64_INVALID_WAT']);
    const notBase64 = await upload({ module: 'not base64!' });
    expect([notBase64.status, notBase64.body.code]).toEqual([400, 'WASM64_INVALID_MODULE']);
    expect(t.device.modules.stats().modules).toBe(before.modules);
  });

  it('refuses a module with imports, naming each missing module.field', async () => {
    const res = await upload(await wasm('imports'));
    expect([res.status, res.body.code]).toEqual([400, 'WASM64_UNRESOLVED_IMPORT']);
    for (const name of ['env.log (function)', 'env.memory (memory)', 'host.seed (global)']) expect(res.body.detail).toContain(name);
  });

  it('answers 413 for a module above MAX_MODULE_BYTES, raw or base64', async () => {
    const big = Buffer.concat([Buffer.from('\0asm\x01\0\0\0', 'latin1'), Buffer.alloc(5000)]);
    const raw = await upload(big);
    expect([raw.status, raw.body.code]).toEqual([413, 'WASM64_MODULE_TOO_LARGE']);
    const encoded = await upload({ module: big.toString('base64') });
    expect([encoded.status, encoded.body.code]).toEqual([413, 'WASM64_MODULE_TOO_LARGE']);
  });

  it('answers 400 for both module and wat, and for an empty body', async () => {
    const both = await upload({ module: (await wasm('loops')).toString('base64'), wat: await wat('loops') });
    expect([both.status, both.body.code]).toEqual([400, 'WASM64_MODULE_CONFLICT']);
    const empty = await t.app.inject({ method: 'POST', url: `${P}/modules`, headers: { 'content-type': 'application/wasm' }, payload: Buffer.alloc(0) });
    expect([empty.statusCode, empty.json().code]).toEqual([400, 'WASM64_EMPTY_BODY']);
  });

  it('keeps at most MAX_MODULES modules, evicting the least recently used; an evicted id is a 404', async () => {
    const ids: string[] = [];
    for (const n of [1, 2, 3, 4]) {
      const res = await upload({ wat: `(module (func (export "f") (result i32) (i32.const ${n})))` });
      expect(res.status).toBe(201);
      ids.push(res.body.module_id as string);
    }
    expect(t.device.modules.stats().modules).toBe(3);
    const gone = await t.app.inject({ method: 'GET', url: `${P}/modules/${ids[0]}` });
    expect([gone.statusCode, gone.json().code]).toEqual([404, 'WASM64_MODULE_NOT_FOUND']);
    const run = await t.app.inject({ method: 'POST', url: `${P}/run`, payload: { module_id: ids[0], code: 'f()' } });
    expect([run.statusCode, run.json().code]).toEqual([404, 'WASM64_MODULE_NOT_FOUND']);
    const kept = await t.app.inject({ method: 'GET', url: `${P}/modules/${ids[3]}` });
    expect(kept.statusCode).toBe(200);
    expect(t.device.modules.stats().evictions).toBeGreaterThan(0);
  });

  it('answers GET of a malformed id with 400 and of an unknown one with 404', async () => {
    expect((await t.app.inject({ method: 'GET', url: `${P}/modules/nope` })).json().code).toBe('WASM64_BAD_REQUEST');
    const unknown = await t.app.inject({ method: 'GET', url: `${P}/modules/sha256:${'0'.repeat(64)}` });
    expect([unknown.statusCode, unknown.json().code]).toEqual([404, 'WASM64_MODULE_NOT_FOUND']);
  });
});
