// Real C programs compiled for wasm32-wasi (test/fixtures/c), run by the real server over a real socket.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../support/server-process.js';
import type { ServerProcess } from '../support/server-process.js';

const P = '/~wasm64@1.0';
let server: ServerProcess;
let demo: string;
let strings: string;

async function upload(path: string): Promise<string> {
  const res = await fetch(`${server.url}${P}/modules`, { method: 'POST', headers: { 'content-type': 'application/wasm' }, body: await readFile(path) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { module_id: string }).module_id;
}

async function run(body: unknown): Promise<Record<string, unknown>> {
  // Prefer: wait answers with the finished job, so no polling is needed.
  const res = await fetch(`${server.url}${P}/run`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'wait=30' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

beforeAll(async () => {
  server = await startServer({ OUTPUT_LIMIT: '65536' });
  demo = await upload('test/fixtures/c/demo.wasm');
  strings = await upload('test/fixtures/c/strings.wasm');
});
afterAll(async () => {
  await server.stop();
});

describe('a C program through the service', () => {
  it('gets its args and environment, reads stdin, writes stdout and stderr, exits 0', async () => {
    const job = await run({ module_id: demo, wasi: { args: ['alpha', 'beta gamma'], env: { NAME: 'HyperBEAM', LANG: 'C' }, stdin: 'hello, stdin\nline two\n' } });
    expect(job).toMatchObject({
      status: 'completed',
      function: '_start',
      exit_code: 0,
      stdout: 'argc=3\nargv[0]=main.wasm\nargv[1]=alpha\nargv[2]=beta gamma\nenv NAME=HyperBEAM\nenv LANG=C\nhello, HyperBEAM!\nHELLO, STDIN\nLINE TWO\n',
      stderr: 'read 22 bytes from stdin\n',
      truncated: false,
    });
  });

  it('reports the exit code the program chose, as a completed job', async () => {
    expect(await run({ module_id: demo, wasi: { env: { EXIT_CODE: '3' } } })).toMatchObject({ status: 'completed', exit_code: 3 });
    expect(await run({ module_id: demo, wasi: { env: { EXIT_CODE: '255' } } })).toMatchObject({ status: 'completed', exit_code: 255 });
  });

  it('cannot open a file of the host', async () => {
    const job = await run({ module_id: demo, wasi: { args: ['--open', '/etc/hostname'] } });
    expect(job).toMatchObject({ status: 'completed', exit_code: 0 });
    expect(job.stderr).toMatch(/^open \/etc\/hostname: Capabilities insufficient$/m);
  });

  it('prints the same time and random bytes for the same seed in deterministic mode', async () => {
    const body = { module_id: demo, wasi: { args: ['--entropy'], deterministic: true, seed: 'process-1' } };
    const [a, b] = await Promise.all([run(body), run(body)]);
    expect(a.stdout).toMatch(/^time 1704067200\.\d{9} random [0-9a-f]{16}$/m);
    expect(b.stdout).toBe(a.stdout);
  });

  it('passes a string through malloc and reads one back: greet and upper', async () => {
    expect(await run({ module_id: strings, function: 'greet', parameters: [{ string: 'end to end' }], returns: { type: 'string' } }))
      .toMatchObject({ status: 'completed', result: 'Hello, end to end!', result_base64: false });
    expect(await run({ module_id: strings, function: 'upper', parameters: [{ string: 'round trip', length: true }], returns: { type: 'string', length: 10 } }))
      .toMatchObject({ status: 'completed', result: 'ROUND TRIP' });
    expect(await run({ module_id: strings, function: 'count_vowels', parameters: [{ string: 'WebAssembly System Interface' }] }))
      .toMatchObject({ status: 'completed', result: 8 });
  });

  it('keeps serving plain jobs afterwards', async () => {
    expect(await run({ code: 'add(2,3)' })).toMatchObject({ status: 'completed', result: 5 });
  });
});
