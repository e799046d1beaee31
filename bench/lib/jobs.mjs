// Runs single jobs over HTTP and waits for them to end: Prefer: wait where the service has it, else polling.
import { performance } from 'node:perf_hooks';
import { DEVICE } from './flows.mjs';

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/** POST /run with `body`; resolves with the terminal job and the wall time from submit to its end. */
export async function runJob(baseUrl, body, { preferWait }) {
  const t0 = performance.now();
  const res = await fetch(`${baseUrl}${DEVICE}/run`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(preferWait ? { prefer: 'wait=60' } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  let job = await res.json();
  if (res.status !== 200 && res.status !== 202) throw new Error(`POST /run answered ${res.status}: ${JSON.stringify(job)}`);
  const deadline = t0 + 60_000;
  while (!TERMINAL.has(job.status)) {
    if (performance.now() > deadline) throw new Error(`job ${job.id} still ${job.status} after 60 s`);
    await new Promise((r) => setTimeout(r, 2));
    job = await (await fetch(`${baseUrl}${DEVICE}/status/${job.id}`)).json();
  }
  const ms = performance.now() - t0;
  if (job.status !== 'completed') throw new Error(`job ${job.id} ended ${job.status}: ${JSON.stringify(job.error)}`);
  return { job, ms };
}
