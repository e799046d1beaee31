// Drives a running service with many concurrent clients and checks every answer; shared by the load test and `npm run soak`.
import { performance } from 'node:perf_hooks';

const DEVICE = '/~wasm64@1.0';
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/**
 * The job for submission `n` and what it must end as: mostly adds (whose result proves the job ran the
 * right call), a trap every tenth job, and a little recursion every tenth job.
 */
export function jobFor(n) {
  switch (n % 10) {
    case 8:
      return { body: { code: `div(${n},0)` }, expect: { status: 'failed', code: 'WASM64_TRAP' } };
    case 9:
      return { body: { function: 'fib_rec', parameters: [20] }, expect: { status: 'completed', result: 6765 } };
    default:
      return { body: { code: `add(${n},1)` }, expect: { status: 'completed', result: n + 1 } };
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The value at quantile `q` (0..1) of `sorted`, or null when it is empty. */
export function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Runs `clients` concurrent clients against `url` until `jobs` submissions were made or `deadline`
 * (epoch ms) passed. Each client submits, then waits for its job: even clients with `Prefer: wait`, odd
 * ones by long-polling the status. A 429 must carry Retry-After and WASM64_QUEUE_FULL; the client then
 * backs off `backoffMs` (jittered; shorter than Retry-After, to keep the queue under pressure).
 * Resolves with counts, every unexpected answer, and the submit-to-terminal latencies.
 */
export async function driveLoad({ url, clients, jobs = Infinity, deadline = Infinity, backoffMs = 20, waitSeconds = 30 }) {
  const summary = {
    attempts: 0,
    accepted: 0,
    refused: 0,
    completed: 0,
    failed: {},
    cancelled: 0,
    /** Answers that were neither 200, 202 nor a proper 429, and network errors. */
    errors: [],
    /** Jobs that ended other than they had to (a wrong result, an unexpected failure). */
    wrong: [],
    /** Accepted jobs still not terminal when the client gave up waiting. */
    unfinished: [],
    latenciesMs: [],
    durationMs: 0,
  };
  const noteError = (what) => {
    if (summary.errors.length < 50) summary.errors.push(what);
    else summary.errors.length++;
  };
  let next = 0;
  const started = performance.now();

  async function waitForJob(id) {
    for (let polls = 0; polls < 10; polls++) {
      const res = await fetch(`${url}${DEVICE}/status/${id}?wait=${waitSeconds}`);
      if (res.status !== 200) {
        noteError({ status: res.status, body: (await res.text()).slice(0, 300), during: 'status' });
        return undefined;
      }
      const job = await res.json();
      if (TERMINAL.has(job.status)) return job;
    }
    return undefined;
  }

  async function client(index) {
    const prefer = index % 2 === 0 ? { prefer: `wait=${waitSeconds}` } : {};
    while (next < jobs && Date.now() < deadline) {
      const n = next++;
      const { body, expect } = jobFor(n);
      const t0 = performance.now();
      summary.attempts++;
      try {
        const res = await fetch(`${url}${DEVICE}/run`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...prefer },
          body: JSON.stringify(body),
        });
        const text = await res.text();
        if (res.status === 429) {
          summary.refused++;
          const retryAfter = res.headers.get('retry-after');
          const code = JSON.parse(text).code;
          if (!/^[1-9][0-9]*$/.test(retryAfter ?? '') || code !== 'WASM64_QUEUE_FULL') {
            noteError({ status: 429, retryAfter, body: text.slice(0, 300), during: 'run' });
          }
          await sleep(backoffMs / 2 + Math.random() * backoffMs);
          continue;
        }
        if (res.status !== 200 && res.status !== 202) {
          noteError({ status: res.status, body: text.slice(0, 300), during: 'run' });
          continue;
        }
        summary.accepted++;
        let job = JSON.parse(text);
        if (!TERMINAL.has(job.status)) job = await waitForJob(job.id);
        if (job === undefined) {
          summary.unfinished.push(n);
          continue;
        }
        summary.latenciesMs.push(performance.now() - t0);
        if (job.status === 'completed') summary.completed++;
        else if (job.status === 'cancelled') summary.cancelled++;
        else summary.failed[job.error?.code] = (summary.failed[job.error?.code] ?? 0) + 1;
        const ok = job.status === expect.status && (expect.code === undefined || job.error?.code === expect.code) && (expect.result === undefined || job.result === expect.result);
        if (!ok && summary.wrong.length < 50) summary.wrong.push({ n, body, expect, got: { status: job.status, result: job.result, error: job.error } });
      } catch (err) {
        noteError({ status: 0, body: String(err?.cause?.code ?? err?.message ?? err), during: 'network' });
      }
    }
  }

  await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
  summary.durationMs = performance.now() - started;
  summary.latenciesMs.sort((a, b) => a - b);
  return summary;
}

/** The service's memory as its /metrics reports it (prom-client's process and heap gauges), in bytes. */
export async function readMemory(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (name) => {
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
    return match ? Number(match[1]) : null;
  };
  return { rss: read('process_resident_memory_bytes'), heapUsed: read('nodejs_heap_size_used_bytes') };
}

/** How many jobs the service still stores (one page of up to 1000 is enough to tell "none" from "some"). */
export async function storedJobs(url) {
  const res = await fetch(`${url}${DEVICE}/jobs?limit=1000`);
  return (await res.json()).jobs.length;
}
