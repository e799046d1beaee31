// Modules the client brings, over a real socket to the real server: uploads, limits, and the service serving after each.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileWat } from '../../src/wasm/wat.js';
import { startServer } from '../support/server-process.js';
import type { ServerProcess } from '../support/server-process.js';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer({ DEFAULT_MEMORY_LIMIT: String(4 * 65_536), MAX_FUEL: '1000000' });
});
afterAll(async () => {
  await server.stop();
});

const P = '/~wasm64@1.0';
const wasm = async (name: string): Promise<Uint8Array> => compileWat(await readFile(`test/fixtures/${name}.wat`, 'utf8'));

async function poll(location: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 1000; i++) {
    const job = (await (await fetch(`${server.url}${location}`)).json()) as Record<string, unknown>;
    if (job.status !== 'queued' && job.status !== 'running') return job;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('job did not finish');
}

async function run(body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.url}${P}/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBe(202);
  return poll(res.headers.get('location')!);
}

describe('the engine end to end', () => {
  it('runs a module posted as application/wasm with the call in the query', async () => {
    const res = await fetch(`${server.url}${P}/run?function=reverse&parameters=1&parameters=2&parameters=3.5&parameters=-Infinity`, {
      method: 'POST', headers: { 'content-type': 'application/wasm' }, body: await wasm('types64'),
    });
    expect(res.status).toBe(202);
    expect(await poll(res.headers.get('location')!)).toMatchObject({ status: 'completed', results: ['-Infinity', 3.5, 2, 1] });
  });

  it('stores a module, describes it, and runs it by id', async () => {
    const stored = await fetch(`${server.url}${P}/modules`, { method: 'POST', headers: { 'content-type': 'application/wasm' }, body: await wasm('grower32') });
    expect(stored.status).toBe(201);
    const description = (await stored.json()) as { module_id: string; memory: unknown };
    expect(description.memory).toEqual({ index: 'i32', min: 1, max: null });
    const again = await fetch(`${server.url}${stored.headers.get('location')!}`);
    expect(((await again.json()) as { module_id: string }).module_id).toBe(description.module_id);
    expect(await run({ module_id: description.module_id, code: 'grow(3)' })).toMatchObject({ status: 'completed', result: 1 });
    expect(await run({ module_id: description.module_id, code: 'grow(4)' })).toMatchObject({ status: 'failed', error: { code: 'WASM64_MEMORY_LIMIT' } });
  });

  it('ends an endless loop by fuel and deep recursion by the stack, and keeps serving', async () => {
    const loops = Buffer.from(await wasm('loops')).toString('base64');
    expect(await run({ module: loops, code: 'spin()', fuel: 1_000_000 })).toMatchObject({ status: 'failed', error: { code: 'WASM64_FUEL_EXHAUSTED' }, fuel_used: 1_000_000 });
    const recursion = Buffer.from(await wasm('recursion')).toString('base64');
    expect(await run({ module: recursion, code: 'depth(100000000)' })).toMatchObject({ status: 'failed', error: { code: 'WASM64_STACK_OVERFLOW' } });
    expect(await run({ code: 'add(2,3)' })).toMatchObject({ status: 'completed', result: 5 });
  });

  it('refuses a module with imports with a 400 problem naming them', async () => {
    const res = await fetch(`${server.url}${P}/run?code=run(1)`, { method: 'POST', headers: { 'content-type': 'application/wasm' }, body: await wasm('imports') });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await res.json()) as { code: string; detail: string };
    expect(problem.code).toBe('WASM64_UNRESOLVED_IMPORT');
    expect(problem.detail).toContain('env.log');
  });
});
