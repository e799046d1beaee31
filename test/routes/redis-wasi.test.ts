// WASI and memory I/O jobs with STORE=redis: what a job carries through Redis and BullMQ gives the worker the
// same task as in memory mode, so each job's answer is the same in both modes, field for field.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildRedisTestApp } from '../support/redis-app.js';
import type { RedisTestApp } from '../support/redis-app.js';
import { startRedis } from '../support/redis-server.js';
import type { RedisServer } from '../support/redis-server.js';
import { buildTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

const P = '/~wasm64@1.0';
type Body = Record<string, unknown>;

let redis: RedisServer;
let memory: TestApp;
/** Two replicas of one cluster: jobs are submitted on `a` and waited for on `b`. */
let a: RedisTestApp;
let b: RedisTestApp;
let demo: string;
let strings: string;

async function upload(app: FastifyInstance, path: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: `${P}/modules`, headers: { 'content-type': 'application/wasm' }, payload: await readFile(path) });
  expect(res.statusCode, res.body).toBeLessThan(300);
  return res.json<{ module_id: string }>().module_id;
}

/** Submits on `submitTo` and long-polls the job on `waitOn` until it is terminal. */
async function runOn(submitTo: FastifyInstance, waitOn: FastifyInstance, body: object): Promise<Body> {
  const res = await submitTo.inject({ method: 'POST', url: `${P}/run`, payload: body });
  expect(res.statusCode, res.body).toBe(202);
  const id = res.json<{ id: string }>().id;
  for (;;) {
    const job = (await waitOn.inject({ method: 'GET', url: `${P}/status/${id}?wait=15` })).json<Body>();
    if (['completed', 'failed', 'cancelled'].includes(job.status as string)) return job;
  }
}

/** A job's answer without what differs by nature between two runs: its id, clock times and duration. */
function outcome(job: Body): Body {
  const { id: _id, created_at: _c, started_at: _s, finished_at: _f, duration_ms: _d, ...rest } = job;
  return rest;
}

/** Runs `body` in memory mode and across the Redis cluster; expects the same answer and returns it. */
async function same(body: object): Promise<Body> {
  const [inMemory, inRedis] = await Promise.all([runOn(memory.app, memory.app, body), runOn(a.app, b.app, body)]);
  expect(outcome(inRedis)).toEqual(outcome(inMemory));
  return inRedis;
}

async function refusedCodes(body: object): Promise<string[]> {
  return Promise.all(
    [memory.app, a.app].map(async (app) => {
      const res = await app.inject({ method: 'POST', url: `${P}/run`, payload: body });
      expect(res.statusCode, res.body).toBe(400);
      return res.json<{ code: string }>().code;
    }),
  );
}

beforeAll(async () => {
  redis = await startRedis();
  const config = { poolThreads: 1, outputLimit: 4096 };
  const prefix = `wasi-${process.pid}`;
  [memory, a, b] = await Promise.all([
    buildTestApp(config),
    buildRedisTestApp(config, { redisUrl: redis.url, prefix }),
    buildRedisTestApp(config, { redisUrl: redis.url, prefix }),
  ]);
  [demo, strings] = await Promise.all([upload(memory.app, 'test/fixtures/c/demo.wasm'), upload(memory.app, 'test/fixtures/c/strings.wasm')]);
  // Content-addressed: the cluster gives the same ids (uploaded on b, so a reads them from Redis).
  expect(await upload(b.app, 'test/fixtures/c/demo.wasm')).toBe(demo);
  expect(await upload(b.app, 'test/fixtures/c/strings.wasm')).toBe(strings);
});
afterAll(async () => {
  await Promise.all([memory?.close(), a?.close(), b?.close()]);
  await redis?.stop('SIGTERM');
});

describe('a WASI command job (the C demo program) with STORE=redis', () => {
  it('carries args, env and stdin, and answers exit_code, stdout and stderr', async () => {
    const job = await same({ module_id: demo, wasi: { args: ['--flag', 'two words'], env: { NAME: 'service' }, stdin: 'some input\n' } });
    expect(job).toMatchObject({
      status: 'completed',
      function: '_start',
      exit_code: 0,
      stdout: 'argc=3\nargv[0]=main.wasm\nargv[1]=--flag\nargv[2]=two words\nenv NAME=service\nhello, service!\nSOME INPUT\n',
      stderr: 'read 11 bytes from stdin\n',
      truncated: false,
    });
  });

  it('carries the exit code, base64 stdin and the OUTPUT_LIMIT of the replica that accepted it', async () => {
    expect(await same({ module_id: demo, wasi: { env: { EXIT_CODE: '42' } } })).toMatchObject({ exit_code: 42 });
    const binary = Buffer.from('binary\x00in').toString('base64');
    expect(await same({ module_id: demo, wasi: { stdin: binary, stdin_base64: true } })).toMatchObject({ stderr: 'read 9 bytes from stdin\n' });
    const cut = await same({ module_id: demo, wasi: { stdin: 'x'.repeat(10_000) } });
    expect(cut).toMatchObject({ truncated: true });
    expect((cut.stdout as string).length).toBe(4096);
  });

  it('carries deterministic mode and its seed: the same clock and random bytes on any replica', async () => {
    const job = await same({ module_id: demo, wasi: { args: ['--entropy'], deterministic: true, seed: 7 } });
    expect(job.stdout).toMatch(/^time 1704067200\.\d{9} random [0-9a-f]{16}$/m);
  });

  it('keeps the output of a program that ran out of fuel', async () => {
    const job = await same({ module_id: demo, fuel: 20_000, wasi: { stdin: 'x'.repeat(100_000) } });
    expect(job).toMatchObject({ status: 'failed', error: { code: 'WASM64_FUEL_EXHAUSTED' }, stdout: expect.stringContaining('argc=1') });
  });
});

describe('memory I/O jobs with STORE=redis', () => {
  it('places strings and bytes through the allocator and reads results back with returns', async () => {
    expect(await same({ module_id: strings, function: 'count_vowels', parameters: [{ string: 'The quick brown fox' }] }))
      .toMatchObject({ status: 'completed', result: 5, parameters: [{ string: 'The quick brown fox' }] });
    expect(await same({ module_id: strings, function: 'upper', parameters: [{ string: 'héllo wasm', length: true }], returns: { type: 'string', length: 11 } }))
      .toMatchObject({ result: 'HéLLO WASM', result_base64: false });
    const data = Buffer.from([0, 255, 1, 254]).toString('base64');
    expect(await same({ module_id: strings, function: 'upper', parameters: [{ bytes: data, length: true }], returns: { type: 'bytes', length: 4 } }))
      .toMatchObject({ result: data, result_base64: true });
  });

  it('initialises a memory64 reactor sent as text, and reads a result whose length is the next result', async () => {
    const wat = await readFile('test/fixtures/wasi/strings64.wat', 'utf8');
    expect(await same({ wat, function: 'split', parameters: [{ string: 'xyz!' }], returns: { type: 'string', length: 'next' } }))
      .toMatchObject({ result: 'xyz', results: [4096, 3] });
    const cat = await readFile('test/fixtures/wasi/cat64.wat', 'utf8');
    expect(await same({ wat: cat, wasi: { stdin: 'from stdin' } })).toMatchObject({ exit_code: 7, stdout: 'hello from memory64\nfrom stdin' });
  });

  it('refuses at submit what memory mode refuses, with the same codes', async () => {
    expect(await refusedCodes({ module_id: demo, wasi: { args: ['a\u0000b'] } })).toEqual(['WASM64_WASI_OPTIONS', 'WASM64_WASI_OPTIONS']);
    expect(await refusedCodes({ module_id: strings, function: 'count_vowels', parameters: [{ string: 'x' }], allocator: 'no_such_alloc' })).toEqual(['WASM64_ALLOCATOR', 'WASM64_ALLOCATOR']);
    expect(await refusedCodes({ module_id: strings, function: 'greet', parameters: [{ string: 'x' }], returns: { type: 'string', length: 'next' } })).toEqual(['WASM64_RETURNS', 'WASM64_RETURNS']);
  });
});
