// `npm run bench`: measures the service beside its ceilings, side by side in one run, and writes bench/RESULTS.md.
// `npm run bench -- --quick` runs every case for a moment and only checks that each one ran (CI does this).
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { probeFeatures } from './lib/features.mjs';
import { startService } from './lib/servers.mjs';
import { renderResults } from './lib/report.mjs';
import { throughput } from './cases/throughput.mjs';
import { cpuScaling } from './cases/cpu-scaling.mjs';
import { moduleCache } from './cases/module-cache.mjs';
import { fuel } from './cases/fuel.mjs';
import { memory } from './cases/memory.mjs';
import { instances } from './cases/instances.mjs';
import { scaleOut } from './cases/scale-out.mjs';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string', default: '2' },
    only: { type: 'string' },
    out: { type: 'string', default: 'bench/RESULTS.md' },
  },
});
const quick = args.quick;
const runs = quick ? 1 : Number(args.runs);
const log = (line) => process.stdout.write(`${line}\n`);

// Bounded in time whatever happens: a stuck case ends the bench (and, through the exit hook, its servers).
const watchdog = setTimeout(() => {
  log(`bench: gave up after ${quick ? 3 : 60} minutes`);
  process.exit(1);
}, (quick ? 3 : 60) * 60_000);
watchdog.unref();

/** Each case, and the feature it needs from the service (undefined: always there). */
const CASES = [
  { name: 'throughput', run: throughput },
  { name: 'cpu-scaling', run: cpuScaling },
  { name: 'module-cache', run: moduleCache, needs: 'modules' },
  { name: 'fuel', run: fuel, needs: 'fuel' },
  { name: 'memory', run: memory },
  { name: 'instances', run: instances },
  { name: 'scale-out', run: scaleOut },
];

const probe = await startService('probe', { POOL_THREADS: '1', LOG_LEVEL: 'warn' });
const features = await probeFeatures(probe.url).finally(() => probe.stop());
log(`features on this build: ${JSON.stringify(features)}`);

const suites = [];
for (let run = 1; run <= runs; run++) {
  const suite = { run, startedAt: new Date(), loadBefore: loadavg(), cases: [], skipped: [] };
  for (const c of CASES) {
    if (args.only && !args.only.split(',').includes(c.name)) continue;
    if (c.needs && !features[c.needs]) {
      suite.skipped.push({ name: c.name, reason: `the service on main has no ${c.needs} yet` });
      log(`${c.name}: skipped (no ${c.needs} on this build)`);
      continue;
    }
    log(`run ${run}: ${c.name}`);
    suite.cases.push({ name: c.name, rows: await c.run({ quick, features, log }) });
  }
  suite.loadAfter = loadavg();
  suites.push(suite);
}

const problems = suites.flatMap((s) =>
  s.cases.flatMap((c) => c.rows.filter((r) => !(Number.isFinite(r.ratio) && r.ratio > 0)).map((r) => `${c.name}: "${r.case}" gave no ratio`)),
);
if (quick) {
  for (const p of problems) log(`FAIL ${p}`);
  const ran = suites[0].cases.length;
  log(problems.length === 0 ? `bench --quick: every case ran (${ran} ran, ${suites[0].skipped.length} skipped)` : 'bench --quick: a case did not run');
  process.exit(problems.length === 0 ? 0 : 1);
}

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: availableParallelism(),
  memoryGiB: totalmem() / 2 ** 30,
  node: process.version,
  date: new Date().toISOString(),
};
const previous = await readFile(args.out, 'utf8').catch(() => '');
await writeFile(args.out, renderResults({ machine, features, suites, previous }));
log(`wrote ${args.out}`);
process.exit(problems.length === 0 ? 0 : 1);
