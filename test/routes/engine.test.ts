// Jobs on modules the client brings: every value type on wasm32 and memory64, traps, and each limit enforced.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileWat } from '../../src/wasm/wat.js';
import { buildTestApp, pollJob } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

const P = '/~wasm64@1.0';
const MiB = 1024 * 1024;
let t: TestApp;

beforeAll(async () => {
  t = await buildTestApp({
    jobMemoryLimit: 2 * MiB,
    jobMemoryLimitMax: 8 * MiB,
    jobFuelMax: 10_000_000,
    moduleMaxBytes: 64 * 1024,
  });
  await t.app.ready();
});
afterAll(async () => t.close());

const wat = async (name: string): Promise<string> => readFile(`test/fixtures/${name}.wat`, 'utf8');
const base64 = async (name: string): Promise<string> => Buffer.from(await compileWat(await wat(name))).toString('base64');

type Json = Record<string, any>;

async function submit(body: object, headers: Record<string, string> = {}): Promise<{ status: number; body: Json }> {
  const res = await t.app.inject({ method: 'POST', url: `${P}/run`, payload: body, headers });
  return { status: res.statusCode, body: res.json() };
}

/** Submits and waits for the job; fails the test if the submission is refused. */
async function job(body: object): Promise<Json> {
  const res = await submit(body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return pollJob(t.app, res.body.id as string, 15_000);
}

/** Proves the service still runs jobs after whatever the test did to it. */
async function stillServing(): Promise<void> {
  expect(await job({ code: 'add(2,3)' })).toMatchObject({ status: 'completed', result: 5 });
}

describe('module sources', () => {
  it('runs a module sent as base64, as WAT, or stored, and records its module_id', async () => {
    const module = await base64('loops');
    const fromBytes = await job({ module, code: 'count(5)' });
    const fromText = await job({ wat: await wat('loops'), code: 'count(6)' });
    expect(fromBytes).toMatchObject({ status: 'completed', result: 5 });
    expect(fromText).toMatchObject({ status: 'completed', result: 6, module_id: fromBytes.module_id });
    expect(await job({ module_id: fromBytes.module_id, code: 'count(7)' })).toMatchObject({ status: 'completed', result: 7 });
    expect(await job({ module_id: String(fromBytes.module_id).slice('sha256:'.length), code: 'count(8)' })).toMatchObject({ result: 8 });
  });

  it('takes the module as an application/wasm body, with the call in the query string', async () => {
    const bytes = await readFile('src/wasm/default-module.wasm');
    const raw = async (query: string, payload: Buffer = bytes) => t.app.inject({
      method: 'POST', url: `${P}/run?${query}`, headers: { 'content-type': 'application/wasm' }, payload,
    });
    const fac = await raw('function=fac&parameters=5');
    expect(fac.statusCode).toBe(202);
    expect(await pollJob(t.app, fac.json().id)).toMatchObject({ status: 'completed', function: 'fac', parameters: [5], result: 120 });
    const add = await raw('function=add&parameters=2&parameters=-3');
    expect(await pollJob(t.app, add.json().id)).toMatchObject({ result: -1, parameters: [2, -3] });
    const code = await raw(`code=${encodeURIComponent('divmod(17, 5)')}`);
    expect(await pollJob(t.app, code.json().id)).toMatchObject({ results: [3, 2] });
    const fuel = await raw('function=fac&parameters=20&fuel=1000000');
    expect(await pollJob(t.app, fuel.json().id)).toMatchObject({ status: 'completed', result: '2432902008176640000', fuel: 1_000_000 });
    for (const [query, code] of [['function=fac&parameters=5&fuel=0', 'WASM64_BAD_REQUEST'], ['function=fac&parameters=5&bogus=1', 'WASM64_BAD_REQUEST'], ['function=nope', 'WASM64_UNKNOWN_FUNCTION']]) {
      const res = await raw(query!);
      expect([res.statusCode, res.json().code]).toEqual([400, code]);
    }
    const notWasm = await raw('function=fac&parameters=5', Buffer.from('definitely not wasm'));
    expect([notWasm.statusCode, notWasm.json().code]).toEqual([400, 'WASM64_INVALID_MODULE']);
    const queryOnJson = await t.app.inject({ method: 'POST', url: `${P}/run?function=fac`, payload: { code: 'fac(5)' } });
    expect([queryOnJson.statusCode, queryOnJson.json().code]).toEqual([400, 'WASM64_BAD_REQUEST']);
  });

  it('tells a repeated raw upload with an Idempotency-Key from a different module', async () => {
    const send = async (payload: Buffer) => t.app.inject({
      method: 'POST', url: `${P}/run?function=count&parameters=3`, headers: { 'content-type': 'application/wasm', 'idempotency-key': 'raw-upload-1' }, payload,
    });
    const loops = Buffer.from(await compileWat(await wat('lifecycle')));
    const first = await send(loops);
    const again = await send(loops);
    expect(again.json().id).toBe(first.json().id);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const other = await send(Buffer.from(await compileWat(`${await wat('lifecycle')}\n;; a comment changes nothing in the binary`)));
    expect(other.json().id).toBe(first.json().id);
    const different = await send(Buffer.from(await compileWat(await wat('loops'))));
    expect([different.statusCode, different.json().code]).toEqual([422, 'WASM64_IDEMPOTENCY_MISMATCH']);
  });

  it.each([
    [{ wat: '(module)', module_id: `sha256:${'a'.repeat(64)}`, code: 'f()' }, 400, 'WASM64_MODULE_CONFLICT'],
    [{ module: 'AGFzbQEAAAA=', wat: '(module)', code: 'f()' }, 400, 'WASM64_MODULE_CONFLICT'],
    [{ module: 'AGFzbQEAAAA=', code: 'f()' }, 400, 'WASM64_UNKNOWN_FUNCTION'],
    [{ module: 'AGFzbQIAAAA=', code: 'f()' }, 400, 'WASM64_INVALID_MODULE'],
    [{ wat: '(module (func (export "f") (result i32)))', code: 'f()' }, 400, 'WASM64_INVALID_WAT'],
    [{ module_id: `sha256:${'b'.repeat(64)}`, code: 'f()' }, 404, 'WASM64_MODULE_NOT_FOUND'],
    [{ module_id: 'sha1:abc', code: 'f()' }, 400, 'WASM64_BAD_REQUEST'],
  ])('refuses %j with %i %s and creates no job', async (body, status, code) => {
    const before = t.store.size;
    const res = await submit(body);
    expect([res.status, res.body.code]).toEqual([status, code]);
    expect(res.body.detail).toBeTypeOf('string');
    expect(t.store.size).toBe(before);
  });

  it('refuses a module with imports before any job exists, naming each import', async () => {
    const before = t.store.size;
    const res = await submit({ wat: await wat('imports'), code: 'run(1)' });
    expect([res.status, res.body.code]).toEqual([400, 'WASM64_UNRESOLVED_IMPORT']);
    expect(res.body.detail).toMatch(/env\.log \(function\).*env\.memory \(memory\).*host\.seed \(global\)/);
    expect(t.store.size).toBe(before);
  });
});

describe.each(['types32', 'types64'])('every value type on %s', (name) => {
  let module: string;
  beforeAll(async () => {
    module = await base64(name);
  });

  it('passes i32, i64, f32 and f64 both ways, exactly, with four results', async () => {
    const res = await job({ module, function: 'reverse', parameters: [-7, '9223372036854775807', 1.5, -0.25] });
    expect(res).toMatchObject({ status: 'completed', result: -0.25, results: [-0.25, 1.5, '9223372036854775807', -7] });
    expect(res.parameters).toEqual([-7, '9223372036854775807', 1.5, -0.25]);
  });

  it('wraps unsigned i32 input, rounds f32 to single precision, and keeps i64 exact past 2^53', async () => {
    expect(await job({ module, code: 'echo_i32(4294967295)' })).toMatchObject({ result: -1 });
    expect(await job({ module, code: 'echo_f32(0.1)' })).toMatchObject({ result: 0.10000000149011612 });
    expect(await job({ module, code: 'add_i64(9007199254740993, 2)' })).toMatchObject({ result: '9007199254740995' });
    expect(await job({ module, code: 'echo_i64(-9223372036854775808)' })).toMatchObject({ result: '-9223372036854775808' });
  });

  it('returns NaN and infinities as strings, and takes them as parameters', async () => {
    expect(await job({ module, code: 'div_f32(1, 0)' })).toMatchObject({ result: 'Infinity' });
    expect(await job({ module, code: 'div_f32(-1, 0)' })).toMatchObject({ result: '-Infinity' });
    expect(await job({ module, code: 'div_f32(0, 0)' })).toMatchObject({ result: 'NaN' });
    expect(await job({ module, function: 'echo_f64', parameters: ['-Infinity'] })).toMatchObject({ result: '-Infinity' });
  });

  it('returns two results, and reads memory at its address width', async () => {
    expect(await job({ module, code: 'divmod_u(17, 5)' })).toMatchObject({ results: [3, 2] });
    expect(await job({ module, code: 'store_halves(8, 0x0000000200000001)' })).toMatchObject({ results: [1, 2] });
  });
});

describe('traps', () => {
  it.each([
    ['unreachable()', 'unreachable'],
    ['div_by_zero(1)', 'divide by zero'],
    ['out_of_bounds(65536)', 'memory access out of bounds'],
    ['bad_conversion(nan)', 'float unrepresentable in integer range'],
  ])('fails %s with WASM64_TRAP and the engine message %j, then keeps serving', async (code, message) => {
    expect(await job({ wat: await wat('traps'), code })).toMatchObject({ status: 'failed', error: { code: 'WASM64_TRAP', message } });
    await stillServing();
  });

  it('fails deep recursion with WASM64_STACK_OVERFLOW, then keeps serving', async () => {
    const module = await base64('recursion');
    expect(await job({ module, code: 'depth(1000)' })).toMatchObject({ status: 'completed', result: 1000 });
    const deep = await job({ module, code: 'depth(100000000)' });
    expect(deep).toMatchObject({ status: 'failed', error: { code: 'WASM64_STACK_OVERFLOW' } });
    expect(deep.error.message).toMatch(/call stack/);
    await stillServing();
  });
});

describe('memory limit', () => {
  it('refuses at submit a module whose memory starts above the job\'s limit, and runs it under a larger one', async () => {
    const module = await base64('big-memory');
    const before = t.store.size;
    const refused = await submit({ module, code: 'pages()' });
    expect([refused.status, refused.body.code]).toEqual([400, 'WASM64_MEMORY_TOO_LARGE']);
    expect(t.store.size).toBe(before);
    expect(await job({ module, code: 'pages()', memory_limit: 4 * MiB })).toMatchObject({ status: 'completed', result: 64, memory_limit: 4 * MiB });
  });

  it('refuses a memory_limit above MAX_MEMORY_LIMIT, and fuel above MAX_FUEL', async () => {
    for (const body of [{ code: 'add(1,1)', memory_limit: 9 * MiB }, { code: 'add(1,1)', fuel: 10_000_001 }]) {
      const res = await submit(body);
      expect([res.status, res.body.code]).toEqual([400, 'WASM64_LIMIT_TOO_HIGH']);
    }
  });

  it.each(['grower32', 'grower64'])('%s: growing past the limit fails the job with WASM64_MEMORY_LIMIT; within it, growth works', async (name) => {
    const module = await base64(name);
    const limit = 3 * 65_536;
    expect(await job({ module, code: 'grow(2)', memory_limit: limit })).toMatchObject({ status: 'completed', result: 1, memory_limit: limit });
    expect(await job({ module, code: 'grow(3)', memory_limit: limit })).toMatchObject({ status: 'failed', error: { code: 'WASM64_MEMORY_LIMIT' } });
    // Code that ignores memory.grow failing cannot get past the limit either.
    expect(await job({ module, code: 'grow_by_pages(1000)', memory_limit: limit })).toMatchObject({ status: 'failed', error: { code: 'WASM64_MEMORY_LIMIT' } });
    // The default limit (DEFAULT_MEMORY_LIMIT, 2 MiB here: 32 pages) applies when the job sets none.
    expect(await job({ module, code: 'grow(31)' })).toMatchObject({ status: 'completed', memory_limit: 2 * MiB });
    expect(await job({ module, code: 'grow(32)' })).toMatchObject({ status: 'failed', error: { code: 'WASM64_MEMORY_LIMIT' } });
    await stillServing();
  });

  it('leaves a module\'s own lower maximum alone: growing past it returns -1 and the job completes', async () => {
    expect(await job({ wat: await wat('bounded-memory'), code: 'grow(5)' })).toMatchObject({ status: 'completed', result: -1 });
  });
});

describe('fuel', () => {
  it('stops an endless loop with WASM64_FUEL_EXHAUSTED and reports the fuel used, then keeps serving', async () => {
    const module = await base64('loops');
    const spun = await job({ module, code: 'spin()', fuel: 100_000 });
    expect(spun).toMatchObject({ status: 'failed', error: { code: 'WASM64_FUEL_EXHAUSTED' }, fuel: 100_000, fuel_used: 100_000 });
    await stillServing();
  });

  it('reports the exact fuel a completed job used (9n + 12 for count(n))', async () => {
    const module = await base64('loops');
    expect(await job({ module, code: 'count(10)', fuel: 1000 })).toMatchObject({ status: 'completed', result: 10, fuel: 1000, fuel_used: 102 });
    expect(await job({ module, code: 'count(10)', fuel: 101 })).toMatchObject({ status: 'failed', error: { code: 'WASM64_FUEL_EXHAUSTED' } });
    const unmetered = await job({ module, code: 'count(10)' });
    expect(unmetered.fuel).toBeUndefined();
    expect(unmetered.fuel_used).toBeUndefined();
  });

  it('meters the default module too, and recursion runs out of fuel before it overflows the stack', async () => {
    expect(await job({ code: 'fib_rec(25)', fuel: 1000 })).toMatchObject({ status: 'failed', error: { code: 'WASM64_FUEL_EXHAUSTED' } });
    expect(await job({ wat: await wat('recursion'), code: 'depth(100000000)', fuel: 10_000 })).toMatchObject({ error: { code: 'WASM64_FUEL_EXHAUSTED' } });
  });
});

describe('size limits', () => {
  it('answers 413 for a module above MAX_MODULE_BYTES and for a body above BODY_LIMIT, and keeps serving', async () => {
    const big = `(module (func (export "f") (result i32) (i32.const 1)) (data "${'x'.repeat(70_000)}") (memory 2))`;
    const res = await submit({ wat: big, code: 'f()' });
    expect([res.status, res.body.code]).toEqual([413, 'WASM64_MODULE_TOO_LARGE']);
    const small = await buildTestApp({ bodyLimit: 2048 });
    try {
      const huge = await small.app.inject({ method: 'POST', url: `${P}/run`, payload: { wat: `(module) ;; ${'x'.repeat(4096)}`, code: 'f()' } });
      expect([huge.statusCode, huge.json().code]).toEqual([413, 'WASM64_BODY_TOO_LARGE']);
      const raw = await small.app.inject({ method: 'POST', url: `${P}/run?code=f()`, headers: { 'content-type': 'application/wasm' }, payload: Buffer.alloc(4096) });
      expect([raw.statusCode, raw.json().code]).toEqual([413, 'WASM64_BODY_TOO_LARGE']);
    } finally {
      await small.close();
    }
    await stillServing();
  });
});

describe('instance reuse (REUSE_INSTANCES, on by default)', () => {
  it('gives every job a fresh instance\'s memory and globals, whatever earlier jobs on the thread left', async () => {
    const { module_id: moduleId } = await job({ wat: await wat('reuse'), code: 'bump()' });
    // One at a time, so the threads run job after job in the instances they keep; metered ones run in their own.
    for (let round = 0; round < 6; round++) {
      expect(await job({ module_id: moduleId, code: 'bump()' })).toMatchObject({ status: 'completed', result: 7042 });
      expect(await job({ module_id: moduleId, code: 'bump_then_trap()' })).toMatchObject({ status: 'failed', error: { code: 'WASM64_TRAP' } });
      expect(await job({ module_id: moduleId, code: 'bump()', fuel: 1000 })).toMatchObject({ status: 'completed', result: 7042, fuel_used: 18 });
      expect(await job({ module_id: moduleId, code: 'pages()' })).toMatchObject({ status: 'completed', result: 1 });
      expect(await job({ module_id: moduleId, code: 'grow()' })).toMatchObject({ status: 'completed', result: 1 });
    }
  });
});
