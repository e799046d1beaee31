// Hostile modules against the real server: each is refused with its code or fails as a job with its code, and add(2,3) still completes.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileWat } from '../../src/wasm/wat.js';
import { startServer } from '../support/server-process.js';
import type { ServerProcess } from '../support/server-process.js';

const RUN = '/~wasm64@1.0/run';
const MAX_MODULE_BYTES = 256 * 1024;
let server: ServerProcess;

beforeAll(async () => {
  server = await startServer({ MAX_MODULE_BYTES: String(MAX_MODULE_BYTES), DEFAULT_TIMEOUT_MS: '2000', MAX_TIMEOUT_MS: '10000' });
});
afterAll(async () => {
  // Hostile modules are the clients' failures, never the service's: nothing was logged at error level.
  expect(server.logs.filter((l) => Number(l.level) >= 50)).toEqual([]);
  expect(await server.stop()).toBe(0);
});

interface Answer {
  status: number;
  body: Record<string, any>;
  text: string;
}

async function run(body: Record<string, unknown>): Promise<Answer> {
  const res = await fetch(`${server.url}${RUN}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'wait=20' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Record<string, any>, text };
}

async function runWasm(bytes: Uint8Array, query: string): Promise<Answer> {
  const res = await fetch(`${server.url}${RUN}?${query}`, { method: 'POST', headers: { 'content-type': 'application/wasm', prefer: 'wait=20' }, body: bytes });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Record<string, any>, text };
}

const fixture = async (name: string): Promise<Uint8Array> =>
  compileWat(await readFile(new URL(`../fixtures/hostile/${name}.wat`, import.meta.url), 'utf8'), `${name}.wat`);
const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

async function expectServing(): Promise<void> {
  expect(server.child.exitCode).toBeNull();
  const res = await run({ code: 'add(2,3)' });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ status: 'completed', result: 5 });
}

function expectRefused(res: Answer, status: number, code: string): void {
  expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
  expect(res.text).not.toMatch(/\n\s+at |\/work\/|node_modules|file:\/\//);
}

function expectJobFailed(res: Answer, code: string): void {
  expect({ status: res.status, job: res.body.status, code: res.body.error?.code }).toEqual({ status: 200, job: 'failed', code });
  expect(res.text).not.toMatch(/\n\s+at |\/work\/|node_modules|file:\/\//);
}

describe('invalid and truncated wasm', () => {
  it.each([
    ['random bytes', () => Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff)],
    ['only the magic number', () => Uint8Array.from([0x00, 0x61, 0x73, 0x6d])],
    ['a wrong version', () => Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00])],
    ['a section length past the end', () => Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f])],
  ])('refuses %s as base64 and as an application/wasm body', async (_name, bytes) => {
    expectRefused(await run({ module: base64(bytes()), code: 'add(2,3)' }), 400, 'WASM64_INVALID_MODULE');
    expectRefused(await runWasm(bytes(), 'code=add(2,3)'), 400, 'WASM64_INVALID_MODULE');
    await expectServing();
  });

  it('refuses every truncation of a valid module', async () => {
    const whole = await fixture('recursion');
    for (let length = 0; length < whole.length; length++) {
      const prefix = whole.subarray(0, length);
      const res = await run({ module: base64(prefix), code: 'down(0)' });
      // Empty base64 fails the schema (minLength); a prefix that ends on a section boundary is a valid module
      // without the function; every other prefix is invalid wasm.
      const expected = length === 0 ? 'WASM64_BAD_REQUEST' : WebAssembly.validate(prefix) ? 'WASM64_UNKNOWN_FUNCTION' : 'WASM64_INVALID_MODULE';
      expectRefused(res, 400, expected);
    }
    await expectServing();
  });

  it.each([
    ['text that is not base64', { module: '!!! not base64 !!!', code: 'f()' }, 400, 'WASM64_INVALID_MODULE'],
    ['WAT that does not compile', { wat: '(module (func (export "f") (i32.add)))', code: 'f()' }, 400, 'WASM64_INVALID_WAT'],
    ['WAT that is not WAT at all', { wat: '{"not":"wat"}', code: 'f()' }, 400, 'WASM64_INVALID_WAT'],
    ['two modules at once', { wat: '(module)', module: base64(Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0])), code: 'f()' }, 400, 'WASM64_MODULE_CONFLICT'],
    ['an unknown module_id', { module_id: `sha256:${'0'.repeat(64)}`, code: 'f()' }, 404, 'WASM64_MODULE_NOT_FOUND'],
    ['a malformed module_id', { module_id: 'sha256:../../etc/passwd', code: 'f()' }, 400, 'WASM64_BAD_REQUEST'],
    ['a valid empty module', { module: base64(Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0])), code: 'f()' }, 400, 'WASM64_UNKNOWN_FUNCTION'],
  ])('refuses %s', async (_name, body, status, code) => {
    expectRefused(await run(body), status, code);
    await expectServing();
  });

  it('refuses a module over MAX_MODULE_BYTES with 413', async () => {
    // A valid module padded with a custom section: size alone must refuse it.
    const padding = MAX_MODULE_BYTES;
    const header = [0, 97, 115, 109, 1, 0, 0, 0];
    const leb = (n: number): number[] => (n < 0x80 ? [n] : [(n & 0x7f) | 0x80, ...leb(n >>> 7)]);
    const bytes = Uint8Array.from([...header, 0, ...leb(padding + 2), 1, 0x78, ...new Array<number>(padding + 1).fill(0)]);
    expectRefused(await run({ module: base64(bytes), code: 'f()' }), 413, 'WASM64_MODULE_TOO_LARGE');
    await expectServing();
  });
});

describe('modules that attack the host at instantiation or run time', () => {
  it('a start function that never returns: the job fails with WASM64_TIMEOUT, and with fuel, WASM64_FUEL_EXHAUSTED', async () => {
    const bytes = base64(await fixture('start-loop'));
    expectJobFailed(await run({ module: bytes, code: 'add(2,3)', timeout_ms: 500 }), 'WASM64_TIMEOUT');
    expectJobFailed(await run({ module: bytes, code: 'add(2,3)', fuel: 1_000_000 }), 'WASM64_FUEL_EXHAUSTED');
    await expectServing();
  });

  it('a start function that traps: the job fails with WASM64_TRAP', async () => {
    expectJobFailed(await run({ module: base64(await fixture('start-trap')), code: 'add(2,3)' }), 'WASM64_TRAP');
    await expectServing();
  });

  it('a data segment out of bounds: the job fails with WASM64_TRAP', async () => {
    expectJobFailed(await run({ module: base64(await fixture('data-out-of-bounds')), code: 'size()' }), 'WASM64_TRAP');
    await expectServing();
  });

  it('imports the service does not provide are refused with WASM64_UNRESOLVED_IMPORT, naming each', async () => {
    const res = await run({ module: base64(await fixture('unknown-imports')), code: 'run()' });
    expectRefused(res, 400, 'WASM64_UNRESOLVED_IMPORT');
    for (const name of ['env.system', 'node.process', 'env.table', 'env.secret']) expect(res.body.detail).toContain(name);
    await expectServing();
  });

  it.each([
    ['a wasm32 memory of 4 GiB', 'memory-4gib', 'size()'],
    ['a memory64 memory of 8 GiB', 'memory64-huge', 'size()'],
  ])('refuses %s with WASM64_MEMORY_TOO_LARGE', async (_name, name, call) => {
    expectRefused(await run({ module: base64(await fixture(name)), code: call }), 400, 'WASM64_MEMORY_TOO_LARGE');
    await expectServing();
  });

  it('refuses a memory64 memory of 64 GiB, beyond what the engine validates, with WASM64_INVALID_MODULE', async () => {
    const bytes = await compileWat('(module (memory i64 1048576))', 'memory64-64gib.wat');
    expectRefused(await run({ module: base64(bytes), code: 'f()' }), 400, 'WASM64_INVALID_MODULE');
    await expectServing();
  });

  it('refuses a memory_limit of 4 GiB with WASM64_LIMIT_TOO_HIGH', async () => {
    expectRefused(await run({ code: 'add(2,3)', memory_limit: 4 * 1024 ** 3 }), 400, 'WASM64_LIMIT_TOO_HIGH');
    await expectServing();
  });

  it.each([
    ['one page at a time, ignoring -1', 'creep()'],
    ['4 GiB at once', 'leap()'],
  ])('a memory.grow bomb (%s) fails with WASM64_MEMORY_LIMIT', async (_name, call) => {
    const res = await run({ module: base64(await fixture('grow-bomb')), code: call, memory_limit: 8 * 1024 * 1024 });
    expectJobFailed(res, 'WASM64_MEMORY_LIMIT');
    await expectServing();
  });

  it('unbounded recursion fails with WASM64_STACK_OVERFLOW, and the thread keeps serving', async () => {
    const bytes = base64(await fixture('recursion'));
    for (let i = 0; i < 3; i++) expectJobFailed(await run({ module: bytes, code: 'down(0)' }), 'WASM64_STACK_OVERFLOW');
    await expectServing();
  });

  // Not bounded by memory_limit: V8 spends about 270 MiB on such a table (see the README's limits).
  it('a table of ten million entries runs or fails as a job, never a 5xx', async () => {
    const res = await run({ module: base64(await fixture('table-bomb')), code: 'size()' });
    expect(res.status).toBe(200);
    expect(res.body.status === 'completed' ? res.body.result : res.body.error?.code).toBeOneOf([10_000_000, 'WASM64_TRAP', 'WASM64_TIMEOUT']);
    await expectServing();
  });
});

describe('a stdout flood', () => {
  const OUTPUT_LIMIT = 1024 * 1024; // the default

  it('keeps the first OUTPUT_LIMIT bytes of 256 MiB written to each of stdout and stderr, flagged truncated', async () => {
    const res = await run({ module: base64(await fixture('stdout-flood')), timeout_ms: 10_000 });
    expect(res.body).toMatchObject({ status: 'completed', exit_code: 0, truncated: true });
    expect(res.body.stdout).toBe('A'.repeat(OUTPUT_LIMIT));
    expect(res.body.stderr).toHaveLength(OUTPUT_LIMIT);
    await expectServing();
  });

  it('a program that never stops writing ends at its timeout', async () => {
    const res = await run({ module: base64(await fixture('stdout-flood')), code: 'forever()', timeout_ms: 1000 });
    expectJobFailed(res, 'WASM64_TIMEOUT');
    await expectServing();
  });
});

describe('huge parameter lists', () => {
  /** A module whose `sum` takes `count` i32 parameters and adds them. */
  async function summer(count: number): Promise<Uint8Array> {
    const params = Array.from({ length: count }, () => 'i32').join(' ');
    // Flat, not nested: wabt's parser recurses on nested expressions.
    const body = ['i32.const 0', ...Array.from({ length: count }, (_, i) => `local.get ${i} i32.add`)].join(' ');
    return compileWat(`(module (func (export "sum") (param ${params}) (result i32) ${body}))`, 'sum.wat');
  }

  it('runs a function of 1,000 parameters (V8\'s most) with 1,000 parameters', async () => {
    const res = await run({ module: base64(await summer(1000)), function: 'sum', parameters: Array.from({ length: 1000 }, (_, i) => i) });
    expect(res.body).toMatchObject({ status: 'completed', result: 499_500 });
    await expectServing();
  });

  it('refuses a function of 1,001 parameters as invalid wasm', async () => {
    expectRefused(await run({ module: base64(await summer(1001)), code: 'sum()' }), 400, 'WASM64_INVALID_MODULE');
    await expectServing();
  });

  it('refuses 1,000 parameters for a function of two, and 5,000 in a call expression', async () => {
    expectRefused(await run({ function: 'add', parameters: Array.from({ length: 1000 }, () => 1) }), 400, 'WASM64_PARAMETER_COUNT');
    expectRefused(await run({ code: `add(${Array.from({ length: 5000 }, () => '1').join(',')})` }), 400, 'WASM64_PARAMETER_COUNT');
    await expectServing();
  });
});
