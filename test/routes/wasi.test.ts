import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, pollJob } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

/** Uploads a module (POST /modules, application/wasm) and answers its id. */
async function upload(t: TestApp, path: string): Promise<string> {
  const res = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/modules', headers: { 'content-type': 'application/wasm' }, payload: await readFile(path) });
  expect(res.statusCode, res.body).toBeLessThan(300);
  return res.json<{ module_id: string }>().module_id;
}

async function runJob(t: TestApp, body: object): Promise<Record<string, unknown>> {
  const res = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', payload: body });
  expect(res.statusCode, res.body).toBe(202);
  return pollJob(t.app, res.json<{ id: string }>().id);
}

async function refuse(t: TestApp, body: object): Promise<string> {
  const res = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', payload: body });
  expect(res.statusCode, res.body).toBe(400);
  expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
  return res.json<{ code: string }>().code;
}

describe('a WASI command job (the C demo program)', () => {
  let t: TestApp;
  let demo: string;
  const run = async (app: TestApp, body: object) => runJob(app, { module_id: demo, ...body });
  const refused = async (app: TestApp, body: object) => refuse(app, { module_id: demo, ...body });
  beforeAll(async () => {
    t = await buildTestApp({ outputLimit: 4096 });
    demo = await upload(t, 'test/fixtures/c/demo.wasm');
  });
  afterAll(async () => t.close());

  it('runs _start when no function is named, with args, env and stdin; answers exit_code, stdout, stderr', async () => {
    const job = await run(t, { wasi: { args: ['--flag', 'two words'], env: { NAME: 'service' }, stdin: 'some input\n' } });
    expect(job).toMatchObject({
      status: 'completed',
      function: '_start',
      exit_code: 0,
      stdout: 'argc=3\nargv[0]=main.wasm\nargv[1]=--flag\nargv[2]=two words\nenv NAME=service\nhello, service!\nSOME INPUT\n',
      stdout_base64: false,
      stderr: 'read 11 bytes from stdin\n',
      stderr_base64: false,
      truncated: false,
      results: [],
    });
  });

  it('completes with the exit code the program chose', async () => {
    expect(await run(t, { wasi: { env: { EXIT_CODE: '42' } } })).toMatchObject({ status: 'completed', exit_code: 42 });
  });

  it('takes binary stdin as base64', async () => {
    const job = await run(t, { wasi: { stdin: Buffer.from('binary\x00in').toString('base64'), stdin_base64: true } });
    expect(job).toMatchObject({ stderr: 'read 9 bytes from stdin\n' });
  });

  it('gives the same output twice in deterministic mode with one seed, and another with another seed', async () => {
    const body = (seed: number) => ({ wasi: { args: ['--entropy'], deterministic: true, seed } });
    const [a, b, c] = await Promise.all([run(t, body(1)), run(t, body(1)), run(t, body(2))]);
    expect(a.stdout).toMatch(/^time 1704067200\.\d{9} random [0-9a-f]{16}$/m);
    expect(b.stdout).toBe(a.stdout);
    expect(c.stdout).not.toBe(a.stdout);
  });

  it('cuts stdout at OUTPUT_LIMIT and says truncated', async () => {
    const job = await run(t, { wasi: { stdin: 'x'.repeat(10_000) } });
    expect(job).toMatchObject({ status: 'completed', truncated: true, stderr: 'read 10000 bytes from stdin\n' });
    expect((job.stdout as string).length).toBe(4096);
  });

  it('fails to open a file, cleanly', async () => {
    const job = await run(t, { wasi: { args: ['--open', '/etc/passwd'] } });
    expect(job).toMatchObject({ status: 'completed', exit_code: 0 });
    expect(job.stderr).toMatch(/^open \/etc\/passwd: (?!opened)/m);
  });

  it('refuses wasi options that cannot reach the program, before any job exists', async () => {
    expect(await refused(t, { wasi: { args: ['a\u0000b'] } })).toBe('WASM64_WASI_OPTIONS');
    expect(await refused(t, { wasi: { env: { 'A=B': '1' } } })).toBe('WASM64_WASI_OPTIONS');
    expect(await refused(t, { wasi: { stdin: 'not base64!', stdin_base64: true } })).toBe('WASM64_WASI_OPTIONS');
    expect(await refused(t, { wasi: { stdout: 'x' } })).toBe('WASM64_BAD_REQUEST');
  });
});

describe('memory I/O jobs (the C strings reactor)', () => {
  let t: TestApp;
  let strings: string;
  const run = async (app: TestApp, body: object) => runJob(app, { module_id: strings, ...body });
  const refused = async (app: TestApp, body: object) => refuse(app, { module_id: strings, ...body });
  beforeAll(async () => {
    t = await buildTestApp();
    strings = await upload(t, 'test/fixtures/c/strings.wasm');
  });
  afterAll(async () => t.close());

  it('passes a string through malloc: count_vowels', async () => {
    const job = await run(t, { function: 'count_vowels', parameters: [{ string: 'The quick brown fox' }] });
    expect(job).toMatchObject({ status: 'completed', result: 5, parameters: [{ string: 'The quick brown fox' }] });
  });

  it('round-trips a string: upper with its length, read back as text', async () => {
    const job = await run(t, { function: 'upper', parameters: [{ string: 'héllo wasm', length: true }], returns: { type: 'string', length: 11 } });
    expect(job).toMatchObject({ status: 'completed', result: 'HéLLO WASM', result_base64: false, truncated: false });
    expect(typeof (job.results as unknown[])[0]).toBe('number');
  });

  it('reads a NUL-terminated string the function returns', async () => {
    expect(await run(t, { function: 'greet', parameters: [{ string: 'AO' }], returns: { type: 'string' } })).toMatchObject({ result: 'Hello, AO!' });
  });

  it('passes bytes with a length and reads bytes back as base64', async () => {
    const data = Buffer.from([0, 255, 1, 254]);
    expect(await run(t, { function: 'checksum', parameters: [{ bytes: data.toString('base64'), length: true }] })).toMatchObject({ result: 510 });
    const job = await run(t, { function: 'upper', parameters: [{ bytes: data.toString('base64'), length: true }], returns: { type: 'bytes', length: 4 } });
    expect(job).toMatchObject({ result: data.toString('base64'), result_base64: true });
  });

  it('refuses what cannot work, with a code, before any job exists', async () => {
    // upper takes (ptr, len): a string without "length" leaves one parameter missing
    expect(await refused(t, { function: 'upper', parameters: [{ string: 'x' }] })).toBe('WASM64_PARAMETER_COUNT');
    // bytes that are not base64
    expect(await refused(t, { function: 'checksum', parameters: [{ bytes: '@@@', length: true }] })).toBe('WASM64_PARAMETER_TYPE');
    expect(await refused(t, { function: 'count_vowels', parameters: [{ string: 'x' }], allocator: 'no_such_alloc' })).toBe('WASM64_ALLOCATOR');
    expect(await refused(t, { function: 'count_vowels', parameters: [{ string: 'x' }], allocator: 'upper' })).toBe('WASM64_ALLOCATOR');
    expect(await refused(t, { function: 'greet', parameters: [{ string: 'x' }], returns: { type: 'string', length: 'next' } })).toBe('WASM64_RETURNS');
    expect(await refused(t, { function: 'count_vowels', parameters: [{ string: 'x', extra: 1 }] })).toBe('WASM64_BAD_REQUEST');
  });
});

describe('memory I/O on the memory64 default module', () => {
  let t: TestApp;
  const run = runJob;
  const refused = refuse;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(async () => t.close());

  it('refuses a string parameter where the signature has no pointer, and an allocator it lacks', async () => {
    expect(await refused(t, { function: 'addf', parameters: [{ string: 'x' }, 1] })).toBe('WASM64_PARAMETER_TYPE');
    expect(await refused(t, { function: 'add', parameters: [{ string: 'x' }, 1] })).toBe('WASM64_ALLOCATOR');
    expect(await refused(t, { function: 'addf', parameters: [1, 2], returns: { type: 'string' } })).toBe('WASM64_RETURNS');
  });

  it('runs plain jobs as before: no WASI fields in the result', async () => {
    const job = await run(t, { code: 'add(2,3)' });
    expect(job).toMatchObject({ status: 'completed', result: 5 });
    expect(job).not.toHaveProperty('stdout');
    expect(job).not.toHaveProperty('exit_code');
  });
});

describe('WASI modules of every kind, sent with the job', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(async () => t.close());

  it('runs a memory64 command (i64 pointers) sent as WebAssembly text', async () => {
    const job = await runJob(t, { wat: await readFile('test/fixtures/wasi/cat64.wat', 'utf8'), wasi: { stdin: 'from stdin' } });
    expect(job).toMatchObject({ status: 'completed', function: '_start', exit_code: 7, stdout: 'hello from memory64\nfrom stdin' });
  });

  it('calls _initialize before the function of a memory64 reactor: malloc works only then', async () => {
    const wat = await readFile('test/fixtures/wasi/strings64.wat', 'utf8');
    expect(await runJob(t, { wat, function: 'count_a', parameters: [{ string: 'abracadabra' }] })).toMatchObject({ status: 'completed', result: 5 });
    const job = await runJob(t, { wat, function: 'split', parameters: [{ string: 'xyz!' }], returns: { type: 'string', length: 'next' } });
    expect(job).toMatchObject({ result: 'xyz', results: [4096, 3] });
  });

  it('sends the C program inline (base64) and keeps its output when fuel runs out', async () => {
    const module = (await readFile('test/fixtures/c/demo.wasm')).toString('base64');
    expect(await runJob(t, { module, wasi: { args: ['inline'] } })).toMatchObject({ status: 'completed', exit_code: 0, stdout: expect.stringContaining('argv[1]=inline') });
    const starved = await runJob(t, { module, fuel: 20_000, wasi: { stdin: 'x'.repeat(100_000) } });
    expect(starved).toMatchObject({ status: 'failed', error: { code: 'WASM64_FUEL_EXHAUSTED' }, stdout: expect.stringContaining('argc=1') });
  });

  it('refuses WASI imports that cannot link: unknown names, wrong signatures, i32 pointers on memory64', async () => {
    const code = async (wat: string) => refuse(t, { wat, function: 'f' });
    expect(await code('(module (import "wasi_snapshot_preview1" "fd_frob" (func (param i32) (result i32))) (func (export "f")))')).toBe('WASM64_UNRESOLVED_IMPORT');
    expect(await code('(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32) (result i32))) (func (export "f")))')).toBe('WASM64_UNRESOLVED_IMPORT');
    expect(await code('(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (memory i64 1) (func (export "f")))')).toBe('WASM64_UNRESOLVED_IMPORT');
    expect(await code('(module (import "wasi_snapshot_preview1" "memory" (memory 1)) (func (export "f")))')).toBe('WASM64_UNRESOLVED_IMPORT');
  });
});
