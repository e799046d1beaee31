// Security on the real server: API tokens never reach the logs, and no error body carries a stack trace or a host path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendRaw } from '../support/raw-http.js';
import { startServer } from '../support/server-process.js';
import type { ServerProcess } from '../support/server-process.js';

const TOKEN = 'reliability-token-7f3a9c2e41d8b6';
const OTHER = 'reliability-token-000000000000000';
const LEAKS = /\n\s+at |\/work\/|node_modules|file:\/\/|\.ts:\d|\.js:\d/;
let server: ServerProcess;
let stderr = '';

beforeAll(async () => {
  server = await startServer({ API_TOKENS: TOKEN, LOG_LEVEL: 'trace' });
  server.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
});
afterAll(async () => {
  await server.stop();
});

const run = (headers: Record<string, string>, body: string): Promise<Response> =>
  fetch(`${server.url}/~wasm64@1.0/run`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

describe('tokens', () => {
  it('appear in no log line, whether accepted, refused, malformed, or sent where they do not belong', async () => {
    const ok = await run({ authorization: `Bearer ${TOKEN}`, prefer: 'wait=10' }, '{"code":"add(2,3)"}');
    expect(ok.status).toBe(200);
    expect((await run({ authorization: `Bearer ${OTHER}` }, '{"code":"add(2,3)"}')).status).toBe(401);
    expect((await run({ authorization: `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}` }, '{}')).status).toBe(401);
    expect((await run({ authorization: TOKEN }, '{}')).status).toBe(401);
    // Failures after authentication, where the request is logged with its error.
    expect((await run({ authorization: `Bearer ${TOKEN}` }, '{"code":')).status).toBe(400);
    expect((await run({ authorization: `Bearer ${TOKEN}` }, '{"code":"add(2,3);x"}')).status).toBe(400);
    expect((await fetch(`${server.url}/~wasm64@1.0/status/nope`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
    await new Promise((r) => setTimeout(r, 200));

    const everything = JSON.stringify(server.logs) + stderr;
    expect(server.logs.length).toBeGreaterThan(5);
    for (const secret of [TOKEN, OTHER, Buffer.from(`user:${TOKEN}`).toString('base64')]) expect(everything).not.toContain(secret);
  });
});

describe('error bodies', () => {
  it('carry no stack trace or host path on any error a client can trigger (the 500 path is in faults.test.ts)', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const answers: { status: number; text: string }[] = [];
    const collect = async (res: Response): Promise<void> => {
      answers.push({ status: res.status, text: await res.text() });
    };
    await collect(await run(auth, '{"code":'));
    await collect(await run(auth, '{"wat":"(module (func (export \\"f\\") (i32.add)))","code":"f()"}'));
    await collect(await run(auth, '{"module":"AGFzbQEAAAAB","code":"f()"}'));
    await collect(await run(auth, '{"code":"add(2,3)","timeout_ms":99999999999}'));
    await collect(await run({}, '{"code":"add(2,3)"}'));
    await collect(await fetch(`${server.url}/~wasm64@1.0/status/%E0%A4%A`, { headers: auth }));
    await collect(await fetch(`${server.url}/nope`, { headers: auth }));
    const raw = await sendRaw(server.url, 'NOT HTTP\r\n\r\n');
    answers.push({ status: raw.status, text: raw.body });
    expect(answers.map((a) => a.status)).toEqual([400, 400, 400, 400, 401, 400, 404, 400]);
    for (const { text } of answers) {
      expect(text).not.toMatch(LEAKS);
      expect(JSON.parse(text)).toHaveProperty('code');
    }
  });
});
