import { afterEach, describe, expect, it } from 'vitest';
import { captureLogs } from './support/log-capture.js';
import { buildTestApp } from './support/test-app.js';
import type { TestApp } from './support/test-app.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const RUN = { method: 'POST' as const, url: '/~wasm64@1.0/run', payload: { code: 'add(2,3)' } };

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('request ids', () => {
  it('honours x-request-id, returns it, and logs every line of the request under it', async () => {
    const logs = captureLogs();
    t = await buildTestApp({}, { logTo: logs });
    const res = await t.app.inject({ ...RUN, headers: { 'x-request-id': 'lb-7f3a.19:abc' } });
    expect(res.statusCode).toBe(202);
    expect(res.headers['x-request-id']).toBe('lb-7f3a.19:abc');
    const lines = logs.lines.filter((l) => l.reqId === 'lb-7f3a.19:abc');
    // One line per request; a run's names its job.
    expect(lines.map((l) => l.msg)).toEqual(['request completed']);
    expect(lines[0]?.job).toBe(res.json<{ id: string }>().id);
  });

  it('generates a UUID when there is none, or when the given one is not sane', async () => {
    t = await buildTestApp();
    const ids = new Set<string>();
    for (const given of [undefined, 'has spaces in it', 'x'.repeat(201), 'ünïcode']) {
      const res = await t.app.inject({ url: '/healthz', headers: given === undefined ? {} : { 'x-request-id': given } });
      const id = String(res.headers['x-request-id']);
      expect(id).toMatch(UUID);
      ids.add(id);
    }
    expect(ids.size).toBe(4);
  });

  it('returns it on errors too: 400, 401, 404, 429', async () => {
    t = await buildTestApp({ apiTokens: ['token-0123456789abcdef'], rateLimitMax: 1 });
    const auth = { authorization: 'Bearer token-0123456789abcdef' };
    const answers = [
      await t.app.inject({ url: '/healthz', headers: { 'x-request-id': 'r-200' } }),
      await t.app.inject({ ...RUN, headers: { 'x-request-id': 'r-401' } }),
      await t.app.inject({ ...RUN, payload: { code: 'add(' }, headers: { ...auth, 'x-request-id': 'r-400' } }),
      await t.app.inject({ ...RUN, headers: { ...auth, 'x-request-id': 'r-429' } }),
      await t.app.inject({ url: '/nowhere', headers: { ...auth, 'x-request-id': 'r-404' } }),
    ];
    expect(answers.map((a) => [a.statusCode, a.headers['x-request-id']])).toEqual([
      [200, 'r-200'],
      [401, 'r-401'],
      [400, 'r-400'],
      [429, 'r-429'],
      [404, 'r-404'],
    ]);
  });
});

describe('rate limiting', () => {
  it('is off by default', async () => {
    t = await buildTestApp();
    for (let i = 0; i < 5; i++) expect((await t.app.inject(RUN)).statusCode).toBe(202);
  });

  it('allows RATE_LIMIT_MAX requests per window, then answers 429 WASM64_RATE_LIMITED with Retry-After', async () => {
    t = await buildTestApp({ rateLimitMax: 3, rateLimitWindowMs: 60_000 });
    for (let i = 0; i < 3; i++) {
      const res = await t.app.inject(RUN);
      expect(res.statusCode).toBe(202);
      expect(res.headers['x-ratelimit-remaining']).toBe(String(2 - i));
    }
    const refused = await t.app.inject(RUN);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.json()).toMatchObject({ status: 429, code: 'WASM64_RATE_LIMITED' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(t.store.size).toBe(3);
    // Health and metrics are never limited, so probes and scrapes keep working.
    for (const url of ['/healthz', '/readyz', '/metrics']) expect((await t.app.inject({ url })).statusCode).toBe(200);
  });

  it('counts each client apart: by address without tokens', async () => {
    t = await buildTestApp({ rateLimitMax: 1 });
    expect((await t.app.inject({ ...RUN, remoteAddress: '10.0.0.1' })).statusCode).toBe(202);
    expect((await t.app.inject({ ...RUN, remoteAddress: '10.0.0.1' })).statusCode).toBe(429);
    expect((await t.app.inject({ ...RUN, remoteAddress: '10.0.0.2' })).statusCode).toBe(202);
  });

  it('counts each client apart: by token with API_TOKENS, wherever it calls from', async () => {
    const tokens = ['token-a-0123456789abcdef', 'token-b-0123456789abcdef'];
    t = await buildTestApp({ apiTokens: tokens, rateLimitMax: 1 });
    const as = (token: string, remoteAddress: string) => t!.app.inject({ ...RUN, remoteAddress, headers: { authorization: `Bearer ${token}` } });
    expect((await as(tokens[0]!, '10.0.0.1')).statusCode).toBe(202);
    expect((await as(tokens[0]!, '10.0.0.2')).statusCode).toBe(429);
    expect((await as(tokens[1]!, '10.0.0.1')).statusCode).toBe(202);
  });

  it.each([
    [false, [202, 429, 429]],
    [1, [202, 202, 429]],
  ])('takes the client address from X-Forwarded-For only with TRUST_PROXY (%s)', async (trustProxy, statuses) => {
    t = await buildTestApp({ rateLimitMax: 1, trustProxy });
    const from = (client: string) => t!.app.inject({ ...RUN, remoteAddress: '10.9.9.9', headers: { 'x-forwarded-for': client } });
    const answers = [await from('192.0.2.1'), await from('192.0.2.2'), await from('192.0.2.1')];
    expect(answers.map((a) => a.statusCode)).toEqual(statuses);
  });
});

describe('a known path with a method it does not take', () => {
  it('answers 405 WASM64_METHOD_NOT_ALLOWED with Allow, whatever the body', async () => {
    t = await buildTestApp();
    const cases = [
      [{ method: 'DELETE' as const, url: '/~wasm64@1.0/run' }, 'POST'],
      [{ method: 'PUT' as const, url: '/~wasm64@1.0/run', payload: 'not json', headers: { 'content-type': 'text/plain' } }, 'POST'],
      [{ method: 'POST' as const, url: '/~wasm64@1.0/status/some-id' }, 'GET, HEAD'],
      [{ method: 'PATCH' as const, url: '/%7Ewasm64%401.0/jobs/' }, 'GET, HEAD'],
      [{ method: 'POST' as const, url: '/~wasm64@1.0/instances/some-id' }, 'DELETE, GET, HEAD'],
      [{ method: 'GET' as const, url: '/~wasm64@1.0/cancel/some-id' }, 'POST'],
      [{ method: 'OPTIONS' as const, url: '/healthz' }, 'GET, HEAD'],
    ] as const;
    for (const [request, allow] of cases) {
      const res = await t.app.inject(request);
      expect([request.method, request.url, res.statusCode, res.headers.allow, res.json().code]).toEqual([request.method, request.url, 405, allow, 'WASM64_METHOD_NOT_ALLOWED']);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    // HEAD of a path that only takes POST: the same answer, without its body.
    const head = await t.app.inject({ method: 'HEAD', url: '/~wasm64@1.0/run' });
    expect([head.statusCode, head.headers.allow]).toEqual([405, 'POST']);
    // Paths that do not exist stay 404, whatever the method.
    const nowhere = await t.app.inject({ method: 'DELETE', url: '/~wasm64@1.0/nowhere' });
    expect([nowhere.statusCode, nowhere.json().code]).toEqual([404, 'WASM64_ROUTE_NOT_FOUND']);
  });

  it('is open where the path is (health), and needs the token where the path does', async () => {
    t = await buildTestApp({ apiTokens: ['token-0123456789abcdef'], rateLimitMax: 1 });
    const open = [await t.app.inject({ method: 'POST', url: '/healthz' }), await t.app.inject({ method: 'POST', url: '/healthz' })];
    expect(open.map((res) => res.statusCode)).toEqual([405, 405]);
    const guarded = await t.app.inject({ method: 'DELETE', url: '/~wasm64@1.0/run' });
    expect([guarded.statusCode, guarded.json().code]).toEqual([401, 'WASM64_UNAUTHORIZED']);
  });
});

describe('security headers', () => {
  it('are those of a JSON API: nothing may embed, frame or sniff the answers', async () => {
    t = await buildTestApp();
    for (const res of [await t.app.inject(RUN), await t.app.inject({ url: '/nowhere' })]) {
      expect(res.headers).toMatchObject({
        'content-security-policy': "default-src 'none';frame-ancestors 'none'",
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'cross-origin-resource-policy': 'same-origin',
      });
      expect(res.headers['strict-transport-security']).toMatch(/^max-age=\d+/);
      expect(res.headers['x-powered-by']).toBeUndefined();
      // Helmet's headers for HTML documents are not sent: they cost every answer and protect nothing here.
      for (const name of ['cross-origin-opener-policy', 'origin-agent-cluster', 'x-dns-prefetch-control', 'x-download-options', 'x-permitted-cross-domain-policies', 'x-xss-protection']) {
        expect(res.headers[name]).toBeUndefined();
      }
    }
  });
});

describe('logs', () => {
  it('never contain a token, at any level', async () => {
    const logs = captureLogs();
    const token = 'secret-token-0123456789';
    t = await buildTestApp({ apiTokens: [token] }, { logTo: logs });
    await t.app.inject({ ...RUN, headers: { authorization: `Bearer ${token}` } });
    await t.app.inject({ ...RUN, headers: { authorization: `Bearer ${token}-wrong` } });
    await t.app.inject({ ...RUN, payload: 'not json', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    expect(logs.lines.length).toBeGreaterThan(3);
    expect(logs.text()).not.toContain(token);
    expect(logs.lines.find((l) => l.status === 202)).toMatchObject({ client: 'token-1' });
  });
});
