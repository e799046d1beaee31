// Hostile requests against the real server: each gets its status and code, and the service keeps running add(2,3).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postUntilAnswered, sendRaw } from '../support/raw-http.js';
import { startServer } from '../support/server-process.js';
import type { ServerProcess } from '../support/server-process.js';

const RUN = '/~wasm64@1.0/run';
const BODY_LIMIT = 1024 * 1024;
let server: ServerProcess;

beforeAll(async () => {
  server = await startServer({ BODY_LIMIT: String(BODY_LIMIT) });
});
afterAll(async () => {
  // A bad input may not even have made the service log an error: every answer here is a 4xx.
  expect(server.logs.filter((l) => Number(l.level) >= 50)).toEqual([]);
  expect(await server.stop()).toBe(0);
});

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

async function post(body: string | Uint8Array, headers: Record<string, string> = { 'content-type': 'application/json' }, path = RUN): Promise<Answer> {
  const res = await fetch(`${server.url}${path}`, { method: 'POST', headers, body });
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

async function request(method: string, path: string): Promise<Answer> {
  const res = await fetch(`${server.url}${path}`, { method });
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

async function get(path: string): Promise<Answer> {
  const res = await fetch(`${server.url}${path}`);
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

const json = (value: unknown): string => JSON.stringify(value);
const code = (expression: string): string => json({ code: expression });

/** The service still runs a job to its result, in the same process. */
async function expectServing(): Promise<void> {
  expect(server.child.exitCode).toBeNull();
  const res = await post(code('add(2,3)'), { 'content-type': 'application/json', prefer: 'wait=10' });
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body)).toMatchObject({ status: 'completed', result: 5 });
}

function expectProblem(res: Answer, status: number, errorCode: string): void {
  expect({ status: res.status, body: res.body.slice(0, 300) }).toMatchObject({ status });
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(res.body) as Record<string, unknown>;
  expect(problem).toMatchObject({ status, code: errorCode, type: `urn:wasm64:error:${errorCode}` });
  // No stack traces or host paths in what a client sees.
  expect(res.body).not.toMatch(/\n\s+at |\/work\/|node_modules|file:\/\//);
}

const deepArray = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
const deepObject = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

type Case = [name: string, send: () => Promise<Answer>, status: number, code: string];

const bodies: Case[] = [
  ['malformed JSON', () => post('{"code":'), 400, 'WASM64_MALFORMED_JSON'],
  ['JSON with trailing junk', () => post('{"code":"add(2,3)"} x'), 400, 'WASM64_MALFORMED_JSON'],
  ['single-quoted JSON', () => post("{'code':'add(2,3)'}"), 400, 'WASM64_MALFORMED_JSON'],
  ['a __proto__ key', () => post('{"code":"add(2,3)","__proto__":{"polluted":1}}'), 400, 'WASM64_MALFORMED_JSON'],
  ['a constructor.prototype key', () => post('{"code":"add(2,3)","constructor":{"prototype":{"polluted":1}}}'), 400, 'WASM64_MALFORMED_JSON'],
  ['no content type', () => post(code('add(2,3)'), {}), 415, 'WASM64_UNSUPPORTED_MEDIA_TYPE'],
  ['text/plain', () => post(code('add(2,3)'), { 'content-type': 'text/plain' }), 415, 'WASM64_UNSUPPORTED_MEDIA_TYPE'],
  ['a form', () => post('code=add(2,3)', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'WASM64_UNSUPPORTED_MEDIA_TYPE'],
  ['multipart', () => post('--x\r\n\r\nadd\r\n--x--', { 'content-type': 'multipart/form-data; boundary=x' }), 415, 'WASM64_UNSUPPORTED_MEDIA_TYPE'],
  ['a content type that only looks like JSON', () => post(code('add(2,3)'), { 'content-type': 'application/jsonx' }), 415, 'WASM64_UNSUPPORTED_MEDIA_TYPE'],
  ['an empty body', () => post(''), 400, 'WASM64_EMPTY_BODY'],
  ['a body of spaces', () => post('   \n '), 400, 'WASM64_MALFORMED_JSON'],
  ['null', () => post('null'), 400, 'WASM64_EMPTY_BODY'],
  ['an array', () => post('[{"code":"add(2,3)"}]'), 400, 'WASM64_BAD_REQUEST'],
  ['a string', () => post('"add(2,3)"'), 400, 'WASM64_BAD_REQUEST'],
  ['a number', () => post('5'), 400, 'WASM64_BAD_REQUEST'],
  ['an empty object', () => post('{}'), 400, 'WASM64_MISSING_FUNCTION'],
  // Bodies the server refuses before their end are sent as a client reading the early answer would (see postUntilAnswered).
  ['a body one byte over BODY_LIMIT', () => postUntilAnswered(`${server.url}${RUN}`, BODY_LIMIT + 1, 'length'), 413, 'WASM64_BODY_TOO_LARGE'],
  ['16 MiB of spaces', () => postUntilAnswered(`${server.url}${RUN}`, 16 * 1024 * 1024, 'length'), 413, 'WASM64_BODY_TOO_LARGE'],
  ['a chunked body over BODY_LIMIT', () => postUntilAnswered(`${server.url}${RUN}`, 2 * BODY_LIMIT, 'chunked'), 413, 'WASM64_BODY_TOO_LARGE'],
  ['arrays nested 500,000 deep', () => post(deepArray(500_000)), 400, 'WASM64_BAD_REQUEST'],
  ['objects nested 100,000 deep in a field', () => post(`{"code":${deepObject(100_000)}}`), 400, 'WASM64_BAD_REQUEST'],
  ['arrays nested 400,000 deep in parameters', () => post(`{"function":"add","parameters":${deepArray(400_000)}}`), 400, 'WASM64_BAD_REQUEST'],
  ['an unknown field', () => post(json({ code: 'add(2,3)', priority: 1 })), 400, 'WASM64_BAD_REQUEST'],
  ['code as a number', () => post(json({ code: 5 })), 400, 'WASM64_BAD_REQUEST'],
  ['code as an empty string', () => post(json({ code: '' })), 400, 'WASM64_BAD_REQUEST'],
  ['function as an array', () => post(json({ function: ['add'], parameters: [2, 3] })), 400, 'WASM64_BAD_REQUEST'],
  ['parameters as a string', () => post(json({ function: 'add', parameters: '2,3' })), 400, 'WASM64_BAD_REQUEST'],
  ['a parameter as an object', () => post(json({ function: 'add', parameters: [{ value: 2 }, 3] })), 400, 'WASM64_BAD_REQUEST'],
  ['a parameter as a boolean', () => post(json({ function: 'add', parameters: [true, 3] })), 400, 'WASM64_BAD_REQUEST'],
  ['a parameter as null', () => post(json({ function: 'add', parameters: [null, 3] })), 400, 'WASM64_BAD_REQUEST'],
  ['a parameter of 1e400 (Infinity once parsed)', () => post('{"function":"add","parameters":[1e400,3]}'), 400, 'WASM64_BAD_REQUEST'],
  ['a parameter string over 1024 characters', () => post(json({ function: 'add', parameters: ['1'.repeat(1025), 3] })), 400, 'WASM64_BAD_REQUEST'],
  ['timeout_ms as a string', () => post(json({ code: 'add(2,3)', timeout_ms: '10' })), 400, 'WASM64_BAD_REQUEST'],
  ['timeout_ms of 0', () => post(json({ code: 'add(2,3)', timeout_ms: 0 })), 400, 'WASM64_BAD_REQUEST'],
  ['timeout_ms of 1.5', () => post(json({ code: 'add(2,3)', timeout_ms: 1.5 })), 400, 'WASM64_BAD_REQUEST'],
  ['timeout_ms of 1e300', () => post('{"code":"add(2,3)","timeout_ms":1e300}'), 400, 'WASM64_TIMEOUT_TOO_LONG'],
  ['both code and function', () => post(json({ code: 'add(2,3)', function: 'add', parameters: [2, 3] })), 400, 'WASM64_CALL_CONFLICT'],
  ['an Idempotency-Key with a space', () => post(code('add(2,3)'), { 'content-type': 'application/json', 'idempotency-key': 'a b' }), 400, 'WASM64_BAD_REQUEST'],
  ['an Idempotency-Key of 256 characters', () => post(code('add(2,3)'), { 'content-type': 'application/json', 'idempotency-key': 'k'.repeat(256) }), 400, 'WASM64_BAD_REQUEST'],
];

const MAX_CALL = 16_384;
const calls: Case[] = [
  ['a call one character over the limit', () => post(code(`add(2,${' '.repeat(MAX_CALL)}3)`)), 400, 'WASM64_BAD_REQUEST'],
  ['10,000 nested parentheses', () => post(code(`${'('.repeat(5000)}add(2,3)${')'.repeat(5000)}`)), 400, 'WASM64_CALL_SYNTAX'],
  ['parentheses around an argument', () => post(code('add((2),3)')), 400, 'WASM64_CALL_SYNTAX'],
  ['a nested call', () => post(code('add(add(1,1),3)')), 400, 'WASM64_CALL_SYNTAX'],
  ['trailing junk after the call', () => post(code('add(2,3);x')), 400, 'WASM64_CALL_SYNTAX'],
  ['two calls', () => post(code('add(2,3)add(2,3)')), 400, 'WASM64_CALL_SYNTAX'],
  ['a NUL after the call', () => post(code('add(2,3)\u0000')), 400, 'WASM64_CALL_SYNTAX'],
  ['a name in another script', () => post(code('ädd(2,3)')), 400, 'WASM64_CALL_SYNTAX'],
  ['full-width digits', () => post(code('add(２,3)')), 400, 'WASM64_CALL_SYNTAX'],
  ['a right-to-left override', () => post(code('add(2,\u202e3)')), 400, 'WASM64_CALL_SYNTAX'],
  ['an emoji string for an i64', () => post(code('add("😀",3)')), 400, 'WASM64_PARAMETER_TYPE'],
  ['a lone surrogate in a string', () => post('{"code":"add(\\"\\ud800\\",3)"}'), 400, 'WASM64_PARAMETER_TYPE'],
  ['an unterminated string', () => post(code('add("2,3)')), 400, 'WASM64_CALL_SYNTAX'],
  ['a bad escape in a string', () => post(code('add("\\x41",3)')), 400, 'WASM64_CALL_SYNTAX'],
  ['a number of 2,000 digits', () => post(code(`add(${'9'.repeat(2000)},3)`)), 400, 'WASM64_CALL_SYNTAX'],
  ['2^64 (one past the unsigned i64 range)', () => post(code('add(18446744073709551616,0)')), 400, 'WASM64_PARAMETER_TYPE'],
  ['-2^63 - 1', () => post(code('add(-9223372036854775809,0)')), 400, 'WASM64_PARAMETER_TYPE'],
  ['a 65-bit hex number', () => post(code('add(0x10000000000000000,0)')), 400, 'WASM64_PARAMETER_TYPE'],
  ['1e400 for an i64', () => post(code('add(1e400,0)')), 400, 'WASM64_PARAMETER_TYPE'],
  ['a fraction for an i64', () => post(code('add(2.5,3)')), 400, 'WASM64_PARAMETER_TYPE'],
  ['nan for an i64', () => post(code('add(nan,3)')), 400, 'WASM64_PARAMETER_TYPE'],
  ['5,000 arguments', () => post(code(`add(${Array(5000).fill('1').join(',')})`)), 400, 'WASM64_PARAMETER_COUNT'],
  ['1,000 parameters', () => post(json({ function: 'add', parameters: Array(1000).fill(1) })), 400, 'WASM64_PARAMETER_COUNT'],
  ['1,001 parameters', () => post(json({ function: 'add', parameters: Array(1001).fill(1) })), 400, 'WASM64_BAD_REQUEST'],
  ['no arguments', () => post(code('add()')), 400, 'WASM64_PARAMETER_COUNT'],
  ['an unknown function', () => post(code('nope(1)')), 400, 'WASM64_UNKNOWN_FUNCTION'],
  ['__proto__ as the function', () => post(json({ function: '__proto__', parameters: [] })), 400, 'WASM64_UNKNOWN_FUNCTION'],
  ['constructor as the function', () => post(code('constructor()')), 400, 'WASM64_UNKNOWN_FUNCTION'],
  ['toString as the function', () => post(code('toString()')), 400, 'WASM64_UNKNOWN_FUNCTION'],
  ['an export that is a memory, not a function', () => post(code('memory()')), 400, 'WASM64_UNKNOWN_FUNCTION'],
];

const requests: Case[] = [
  ['a job id over the router\'s length limit', () => get(`/~wasm64@1.0/status/${'a'.repeat(200)}`), 400, 'WASM64_BAD_REQUEST'],
  ['a broken percent-encoding', () => get('/~wasm64@1.0/status/%E0%A4%A'), 400, 'WASM64_BAD_REQUEST'],
  ['an unknown job', () => get('/~wasm64@1.0/status/00000000-0000-4000-8000-000000000000'), 404, 'WASM64_JOB_NOT_FOUND'],
  ['a wait that is not a number', () => get('/~wasm64@1.0/status/x?wait=1e9'), 400, 'WASM64_BAD_REQUEST'],
  ['a list limit of 0', () => get('/~wasm64@1.0/jobs?limit=0'), 400, 'WASM64_BAD_REQUEST'],
  ['a forged cursor', () => get('/~wasm64@1.0/jobs?cursor=djE6OTk5OTk5OTk5OTk5OTk5OTk5'), 400, 'WASM64_BAD_CURSOR'],
  ['an unknown route', () => get('/~wasm64@2.0/run'), 404, 'WASM64_ROUTE_NOT_FOUND'],
  ['cancel of an unknown job', () => request('POST', '/~wasm64@1.0/cancel/nope'), 404, 'WASM64_JOB_NOT_FOUND'],
  ['cancel with a body it does not take', () => post('{"reason":"x"}', { 'content-type': 'application/json' }, '/~wasm64@1.0/cancel/nope'), 404, 'WASM64_JOB_NOT_FOUND'],
  ['DELETE on the run route', () => request('DELETE', RUN), 405, 'WASM64_METHOD_NOT_ALLOWED'],
  ['not HTTP at all', () => sendRaw(server.url, 'HELLO\r\n\r\n'), 400, 'WASM64_BAD_REQUEST'],
  ['a request line with a space in the path', () => sendRaw(server.url, 'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n'), 400, 'WASM64_BAD_REQUEST'],
  ['a header with no colon', () => sendRaw(server.url, 'GET / HTTP/1.1\r\nHost: x\r\nbroken\r\n\r\n'), 400, 'WASM64_BAD_REQUEST'],
  ['both Content-Length and chunked', () => sendRaw(server.url, `POST ${RUN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`), 400, 'WASM64_BAD_REQUEST'],
  ['a Content-Length larger than the body sent', () => sendRaw(server.url, `POST ${RUN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{}`), 400, 'WASM64_BAD_REQUEST'],
  ['64 KiB of headers', () => sendRaw(server.url, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`), 431, 'WASM64_HEADERS_TOO_LARGE'],
  ['invalid UTF-8 in the body', () => sendRaw(server.url, Buffer.concat([
    Buffer.from(`POST ${RUN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 21\r\nConnection: close\r\n\r\n`),
    Buffer.from('{"code":"add(2,3)'), Buffer.from([0xff, 0xfe]), Buffer.from('"}'),
  ])), 400, 'WASM64_CALL_SYNTAX'],
];


describe('hostile request bodies', () => {
  it.each(bodies)('%s', async (_name, send, status, errorCode) => {
    expectProblem(await send(), status, errorCode);
    await expectServing();
  });
});

describe('pathological call expressions', () => {
  it.each(calls)('%s', async (_name, send, status, errorCode) => {
    expectProblem(await send(), status, errorCode);
    await expectServing();
  });

  it.each([
    ['a call of exactly the longest length', `add(2,${' '.repeat(MAX_CALL - 'add(2,3)'.length)}3)`, 5],
    ['i64 max', 'add(9223372036854775807,0)', '9223372036854775807'],
    ['2^63, read as unsigned', 'add(9223372036854775808,0)', '-9223372036854775808'],
    ['i64 min in hex two\'s complement', 'add(0x8000000000000000,0)', '-9223372036854775808'],
    ['whitespace of every kind', '\t add \n(\r2 ,\u00a03\u2003)\n', 5],
    ['1e400 for an f64', 'addf(1e400,0)', 'Infinity'],
  ])('accepts %s', async (_name, expression, result) => {
    const res = await post(code(expression), { 'content-type': 'application/json', prefer: 'wait=10' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ status: 'completed', result });
  });
});

describe('hostile URLs, headers and HTTP', () => {
  it.each(requests)('%s', async (_name, send, status, errorCode) => {
    expectProblem(await send(), status, errorCode);
    await expectServing();
  });
});
