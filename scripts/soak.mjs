// `npm run soak -- --minutes N`: runs the built server on 127.0.0.1 under 100 clients for N minutes, then prints a summary.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { driveLoad, quantile, readMemory, storedJobs } from './load-driver.mjs';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '1' },
    clients: { type: 'string', default: '100' },
    threads: { type: 'string', default: '2' },
    queue: { type: 'string', default: '16' },
    'ttl-seconds': { type: 'string', default: '30' },
  },
});
const minutes = Number(values.minutes);
const clients = Number(values.clients);
// Bounded by design: a soak is hours at most and never more clients than one machine's loopback takes comfortably.
if (!(minutes > 0 && minutes <= 24 * 60)) throw new Error('--minutes must be more than 0 and at most 1440');
if (!(Number.isInteger(clients) && clients >= 1 && clients <= 1000)) throw new Error('--clients must be an integer from 1 to 1000');

const MiB = 1024 * 1024;
const mib = (bytes) => (bytes === null ? '?' : (bytes / MiB).toFixed(1));

/** Starts dist/server.js on a free loopback port and resolves with its URL once it listens. */
async function startServer() {
  const env = {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    POOL_THREADS: values.threads,
    POOL_MAX_QUEUE: values.queue,
    JOB_TTL_SECONDS: values['ttl-seconds'],
    API_TOKENS: '',
    RATE_LIMIT_MAX: '0',
  };
  const child = spawn(process.execPath, ['dist/server.js'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const errors = [];
  const url = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the server exited with ${code} before it listened`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (entry.level >= 50 && errors.length < 20) errors.push(entry);
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(String(entry.msg));
      if (match) resolve(match[1]);
    });
  });
  return { child, url, errors };
}

const server = await startServer();
const startedAt = Date.now();
const deadline = startedAt + minutes * 60_000;
const samples = [];
const sample = async () => {
  try {
    samples.push({ at: (Date.now() - startedAt) / 1000, ...(await readMemory(server.url)) });
  } catch {
    // a missed sample is not a failure of the service
  }
};
await sample();
const every = Math.max(5_000, (minutes * 60_000) / 30);
const sampler = setInterval(() => void sample(), every);
process.stderr.write(`soak: ${clients} clients against ${server.url} for ${minutes} min (queue ${values.queue}, ${values.threads} threads, TTL ${values['ttl-seconds']} s)\n`);

const summary = await driveLoad({ url: server.url, clients, deadline });
clearInterval(sampler);
await sample();

// After the TTL every job must be gone.
const ttlMs = Number(values['ttl-seconds']) * 1000;
const drainBy = Date.now() + ttlMs + 10_000;
let stored = await storedJobs(server.url);
while (stored > 0 && Date.now() < drainBy) {
  await new Promise((r) => setTimeout(r, 250));
  stored = await storedJobs(server.url);
}
await sample();
server.child.kill('SIGTERM');
const exitCode = await new Promise((resolve) => server.child.once('exit', resolve));

const lat = summary.latenciesMs;
const failed = Object.entries(summary.failed).map(([code, n]) => `${code} ${n}`).join(', ') || 'none';
const lines = [
  `jobs submitted   ${summary.attempts} in ${(summary.durationMs / 1000).toFixed(1)} s (${(summary.accepted / (summary.durationMs / 1000)).toFixed(0)} accepted/s)`,
  `accepted         ${summary.accepted}: completed ${summary.completed}, failed ${failed}, cancelled ${summary.cancelled}`,
  `refusals (429)   ${summary.refused}`,
  `errors           ${summary.errors.length} (5xx, other statuses, network), wrong outcomes ${summary.wrong.length}, never terminal ${summary.unfinished.length}`,
  `latency (ms)     p50 ${quantile(lat, 0.5)?.toFixed(1)}, p99 ${quantile(lat, 0.99)?.toFixed(1)}, max ${lat.at(-1)?.toFixed(1)} (submit to terminal)`,
  `jobs stored      ${stored} after the TTL`,
  `server log       ${server.errors.length} error lines; exit code ${exitCode} after SIGTERM`,
  '',
  'RSS over time (MiB)',
  ...samples.map((s) => `  ${s.at.toFixed(0).padStart(6)} s  rss ${mib(s.rss).padStart(7)}  heap used ${mib(s.heapUsed).padStart(7)}`),
];
console.log(lines.join('\n'));
for (const e of summary.errors.slice(0, 5)) console.log('error:', JSON.stringify(e));
for (const w of summary.wrong.slice(0, 5)) console.log('wrong:', JSON.stringify(w));
for (const e of server.errors.slice(0, 5)) console.log('server error:', JSON.stringify(e));

const healthy = summary.errors.length === 0 && summary.wrong.length === 0 && summary.unfinished.length === 0 && stored === 0 && server.errors.length === 0 && exitCode === 0;
console.log(healthy ? 'soak: OK' : 'soak: FAILED');
process.exitCode = healthy ? 0 : 1;
