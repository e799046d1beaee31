// Case: AO instances (issue 12, item 7). A 12 MB-memory process handles small messages one after another,
// (a) as a live instance on its lane, through the device exactly as the service runs it (checkpoints
// included), and (b) with its memory copied into a fresh instance and out again per message, on a Piscina
// worker, the memory travelling as a transferred ArrayBuffer (what AO's loader does). Plus what a snapshot
// and a rebuild after a trap cost.
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { composeMemoryDevice } from '../../dist/compose.js';
import { loadConfig } from '../../dist/config.js';
import { createLogger } from '../../dist/logger.js';
import { enableMemory64 } from '../../dist/wasm/features.js';
import { compileWat } from '../../dist/wasm/wat.js';
import { createInstanceLanes } from '../../dist/worker/instance-lanes.js';
import { trailerBytes } from '../servers/instance-copy-worker.mjs';

const MB = 1024 * 1024;
const PAGES = 192; // 12 MiB

async function processWat() {
  const source = await readFile(new URL('../../test/fixtures/ao/process.wat', import.meta.url), 'utf8');
  return source.replace('(memory (export "memory") i64 2)', `(memory (export "memory") i64 ${PAGES})`);
}

async function buildDevice(checkpointMessages) {
  const config = loadConfig({}, {
    poolThreads: 1,
    poolMaxQueue: 100_000,
    jobStoreMax: 100_000,
    jobTtlMs: 60_000,
    jobTimeoutMs: 60_000,
    jobTimeoutMaxMs: 60_000,
    logLevel: 'silent',
    instanceLanes: 1,
    instanceCheckpointMessages: checkpointMessages,
  });
  const { device } = await composeMemoryDevice(config, { logger: createLogger(config), lanes: createInstanceLanes(1) });
  return device;
}

async function runOn(device, instanceId, message) {
  const { job } = await device.submit({ instance_id: instanceId, message, env: { Process: { Id: 'bench' } } });
  const done = await device.waitFor(job, 60_000);
  if (done.status !== 'completed') throw new Error(`message ended ${done.status}: ${JSON.stringify(done.error)}`);
  return done.output;
}

/** Messages/s through a live instance, one at a time (each waits for the previous answer, as a process's do). */
async function live(wat, count, checkpointMessages) {
  const device = await buildDevice(checkpointMessages);
  try {
    const { instance } = await device.instances.create({ wat });
    for (let i = 0; i < 20; i++) await runOn(device, instance.id, { warm: i });
    const t0 = performance.now();
    let last;
    for (let i = 0; i < count; i++) last = await runOn(device, instance.id, { Action: 'Transfer', Quantity: i });
    const seconds = (performance.now() - t0) / 1000;
    return { perSecond: count / seconds, last, checkpoints: device.instances.stats.checkpoints };
  } finally {
    await device.close();
  }
}

/** Messages/s when the memory is copied into a fresh instance and out again for each message. */
async function copying(wat, count) {
  enableMemory64();
  const module = await WebAssembly.compile(await compileWat(wat));
  const piscina = new Piscina({ filename: new URL('../servers/instance-copy-worker.mjs', import.meta.url).href, minThreads: 1, maxThreads: 1, idleTimeout: 60_000 });
  const globals = ['heap', 'log_end'];
  try {
    // The initial state: a fresh instance after _initialize, taken the same way.
    const first = new WebAssembly.Instance(module, { wasi_snapshot_preview1: new Proxy({}, { get: () => () => 0 }) });
    first.exports._initialize();
    const bytes0 = first.exports.memory.buffer.byteLength;
    let state = new ArrayBuffer(bytes0 + trailerBytes(globals));
    new Uint8Array(state).set(new Uint8Array(first.exports.memory.buffer));
    const trailer = new BigInt64Array(state, bytes0, globals.length + 1);
    globals.forEach((name, i) => (trailer[i] = first.exports[name].value));
    let bytes = bytes0;
    let messages = 0;
    const step = async (message) => {
      const task = { module, state, bytes, globals, messages, message, env: { Process: { Id: 'bench' } } };
      state = await piscina.run(task, { transferList: [state] });
      bytes = state.byteLength - trailerBytes(globals);
      messages++;
    };
    for (let i = 0; i < 5; i++) await step({ warm: i });
    const t0 = performance.now();
    for (let i = 0; i < count; i++) await step({ Action: 'Transfer', Quantity: i });
    const seconds = (performance.now() - t0) / 1000;
    const out = Number(new BigInt64Array(state, bytes, globals.length + 1)[globals.length]);
    const view = new Uint8Array(state, 0, bytes);
    const answer = JSON.parse(new TextDecoder().decode(view.subarray(out, view.indexOf(0, out))));
    return { perSecond: count / seconds, last: answer };
  } finally {
    await piscina.destroy();
  }
}

/** What a snapshot (lane: copy + deflate + sha256) and a rebuild after a trap (checkpoint + journal replay) cost. */
async function recovery(wat, journal) {
  const device = await buildDevice(journal + 1);
  try {
    const { instance } = await device.instances.create({ wat });
    for (let i = 0; i < journal; i++) await runOn(device, instance.id, { n: i });
    let t0 = performance.now();
    await device.instances.snapshot(instance.id);
    const snapshotMs = performance.now() - t0;
    for (let i = 0; i < journal; i++) await runOn(device, instance.id, { n: i });
    const { job } = await device.submit({ instance_id: instance.id, message: 'trap' });
    await device.waitFor(job, 60_000);
    t0 = performance.now();
    const after = await runOn(device, instance.id, { n: 'after' });
    const rebuildMs = performance.now() - t0;
    if (after.count !== journal * 2 + 1) throw new Error(`rebuilt instance at count ${after.count}, expected ${journal * 2 + 1}`);
    return { snapshotMs, rebuildMs };
  } finally {
    await device.close();
  }
}

export async function instances({ quick, log }) {
  const wat = await processWat();
  const count = quick ? 200 : 10_000;
  const checkpointEvery = 1000;
  const liveRun = await live(wat, count, checkpointEvery);
  log(`  live instance: ${liveRun.perSecond.toFixed(0)} messages/s (${liveRun.checkpoints} checkpoints taken)`);
  // The copying path runs ~10-20 messages/s here: 500 messages give a steady rate in under a minute,
  // where all 10,000 took the better part of the suite's time.
  const copyCount = quick ? 50 : 500;
  const copyRun = await copying(wat, copyCount);
  log(`  memory copied per message: ${copyRun.perSecond.toFixed(0)} messages/s`);
  if (liveRun.last.hash === undefined || copyRun.last.hash === undefined) throw new Error('a path answered no hash');
  const journal = quick ? 50 : 1000;
  const { snapshotMs, rebuildMs } = await recovery(wat, journal);
  log(`  snapshot of ${PAGES * 65536 / MB} MiB: ${snapshotMs.toFixed(1)} ms; rebuild after a trap replaying ${journal} messages: ${rebuildMs.toFixed(1)} ms`);
  return [
    {
      case: `AO instance: small messages to a ${PAGES * 65536 / MB} MiB process, live (${count}) vs memory copied in and out per message (${copyCount})`,
      detail: `live ${liveRun.perSecond.toFixed(0)}/s (INSTANCE_CHECKPOINT_MESSAGES=${checkpointEvery}, ${liveRun.checkpoints} checkpoints), copying ${copyRun.perSecond.toFixed(0)}/s`,
      ratio: liveRun.perSecond / copyRun.perSecond,
      ratioOf: 'x faster',
      target: { atLeast: 5 },
    },
    {
      case: `AO instance: snapshot of a ${PAGES * 65536 / MB} MiB process, and rebuild after a trap with ${journal} journalled messages`,
      detail: `snapshot (copy + deflate + sha256, on the lane) ${snapshotMs.toFixed(1)} ms; rebuild (inflate + hash + replay) ${rebuildMs.toFixed(1)} ms`,
      ratio: rebuildMs / snapshotMs,
      ratioOf: 'x (rebuild / snapshot)',
    },
  ];
}
