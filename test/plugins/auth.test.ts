import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

const TOKENS = ['first-token-0123456789', 'second-token-0123456789'];
const RUN = { method: 'POST' as const, url: '/~wasm64@1.0/run', payload: { code: 'add(2,3)' } };

describe('without API_TOKENS', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(async () => t.close());

  it('serves every route without a token', async () => {
    expect((await t.app.inject(RUN)).statusCode).toBe(202);
    expect((await t.app.inject({ url: '/openapi.json' })).statusCode).toBe(200);
  });
});

describe('with API_TOKENS', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ apiTokens: TOKENS });
  });
  afterAll(async () => t.close());

  it('refuses a request without a token with a 401 problem', async () => {
    const res = await t.app.inject(RUN);
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="wasm64"');
    expect(res.json()).toMatchObject({ status: 401, code: 'WASM64_UNAUTHORIZED' });
    expect(t.store.size).toBe(0);
  });

  it.each([
    ['a wrong token', 'Bearer wrong-token-0123456789'],
    ['a prefix of a token', `Bearer ${TOKENS[0]!.slice(0, -1)}`],
    ['a token with more after it', `Bearer ${TOKENS[0]!}x`],
    ['another scheme', `Basic ${TOKENS[0]!}`],
    ['two tokens', `Bearer ${TOKENS[0]!}, ${TOKENS[1]!}`],
  ])('refuses %s', async (_name, authorization) => {
    const res = await t.app.inject({ ...RUN, headers: { authorization } });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code: 'WASM64_UNAUTHORIZED' });
  });

  it('says invalid_token when a bearer token was sent but is wrong', async () => {
    const res = await t.app.inject({ ...RUN, headers: { authorization: 'Bearer wrong-token-0123456789' } });
    expect(res.headers['www-authenticate']).toBe('Bearer realm="wasm64", error="invalid_token"');
  });

  it('accepts each configured token, on every route', async () => {
    for (const token of TOKENS) {
      const headers = { authorization: `Bearer ${token}` };
      const run = await t.app.inject({ ...RUN, headers });
      expect(run.statusCode).toBe(202);
      const status = await t.app.inject({ url: `/~wasm64@1.0/status/${run.json<{ id: string }>().id}`, headers });
      expect(status.statusCode).toBe(200);
      expect((await t.app.inject({ url: '/openapi.json', headers })).statusCode).toBe(200);
    }
    // The scheme name is case-insensitive (RFC 9110).
    expect((await t.app.inject({ ...RUN, headers: { authorization: `bearer ${TOKENS[1]!}` } })).statusCode).toBe(202);
  });

  it('guards job reads, the API document and unknown routes too', async () => {
    for (const url of ['/~wasm64@1.0/status/anything', '/openapi.json', '/no/such/route']) {
      const res = await t.app.inject({ url });
      expect(res.statusCode, url).toBe(401);
      expect(res.json()).toMatchObject({ code: 'WASM64_UNAUTHORIZED' });
    }
  });

  it('leaves health and metrics open', async () => {
    for (const url of ['/healthz', '/readyz', '/metrics']) expect((await t.app.inject({ url })).statusCode, url).toBe(200);
  });
});
