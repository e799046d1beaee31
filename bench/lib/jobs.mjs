// Runs single jobs over HTTP and waits for them to end: Prefer: wait where the service has it, else polling.
//
// A plain node:http client on kept-alive connections: fetch (undici) adds about a millisecond of its own to
// each request here, which is most of a short job's round trip and would blur what the service does.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { DEVICE } from './flows.mjs';

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const agent = new http.Agent({ keepAlive: true });

/** One request; resolves with the status and the body parsed as JSON. */
export function request(baseUrl, method, path, { body, headers = {} } = {}) {
  const url = new URL(path, baseUrl);
  const payload = body === undefined ? undefined : Buffer.from(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method, agent, headers: { ...headers, ...(payload ? { 'content-length': payload.length } : {}) } },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode, body: JSON.parse(text) });
          } catch {
            reject(new Error(`${method} ${path} answered ${res.statusCode} with a body that is not JSON: ${text.slice(0, 200)}`));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** POST /run with `body`; resolves with the terminal job and the wall time from submit to its end. */
export async function runJob(baseUrl, body, { preferWait }) {
  const t0 = performance.now();
  const res = await request(baseUrl, 'POST', `${DEVICE}/run`, {
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(preferWait ? { prefer: 'wait=60' } : {}) },
  });
  let job = res.body;
  if (res.status !== 200 && res.status !== 202) throw new Error(`POST /run answered ${res.status}: ${JSON.stringify(job)}`);
  const deadline = t0 + 60_000;
  while (!TERMINAL.has(job.status)) {
    if (performance.now() > deadline) throw new Error(`job ${job.id} still ${job.status} after 60 s`);
    await new Promise((r) => setTimeout(r, 2));
    job = (await request(baseUrl, 'GET', `${DEVICE}/status/${job.id}`)).body;
  }
  const ms = performance.now() - t0;
  if (job.status !== 'completed') throw new Error(`job ${job.id} ended ${job.status}: ${JSON.stringify(job.error)}`);
  return { job, ms };
}
