// Piscina worker entry of an instance lane: holds the lane's live instances and runs tasks against them.
import { performance } from 'node:perf_hooks';
import { enableMemory64 } from '../wasm/features.js';
import { LiveInstance, SnapshotMismatchError } from '../wasm/instance.js';
import { packState, StateIntegrityError, unpackState } from '../wasm/instance-state.js';
import type { InstanceAnswer, InstanceImage, InstanceTask } from './instance-protocol.js';

enableMemory64();

/** This thread's instances. A lane has one thread, so every task of an instance comes here, in order. */
const instances = new Map<string, LiveInstance>();

type Built = { live: LiveInstance; answer?: Partial<InstanceAnswer> } | { live?: undefined; answer: Partial<InstanceAnswer> };

function build(image: InstanceImage): Built {
  if ('init' in image.from) {
    const { instance, evaluation } = LiveInstance.create(image.module, image.setup, image.from.init);
    return instance === undefined ? { answer: { evaluation } } : { live: instance, answer: { evaluation } };
  }
  let live: LiveInstance;
  try {
    live = LiveInstance.restore(image.module, image.setup, unpackState(image.from.state));
  } catch (err) {
    if (err instanceof SnapshotMismatchError || err instanceof StateIntegrityError) return { answer: { openError: err.message } };
    throw err;
  }
  for (const entry of image.from.replay) {
    if (entry.index < live.messages) continue;
    const replayed = live.call(entry.call);
    if (!replayed.ok && replayed.kept !== true) return { answer: { openError: `replaying message ${entry.index} failed: ${replayed.code} ${replayed.message}` } };
  }
  return { live };
}

export default function run(task: InstanceTask): InstanceAnswer {
  const startedAt = Date.now();
  const t0 = performance.now();
  const answer = (fields: Partial<InstanceAnswer>, live: LiveInstance | undefined): InstanceAnswer => ({
    live: live !== undefined && instances.get(task.instanceId) === live,
    memoryBytes: live?.memoryBytes ?? 0,
    messages: live?.messages ?? 0,
    ...fields,
    startedAt,
    durationMs: performance.now() - t0,
  });
  if (task.kind === 'drop') {
    instances.delete(task.instanceId);
    return answer({}, undefined);
  }
  let live = instances.get(task.instanceId);
  // An image is the device's word that this thread does not hold the instance as it should be: build it again.
  if (task.kind === 'open' || task.image !== undefined) {
    const image = task.kind === 'open' ? task.image : task.image!;
    const built = build(image);
    if (built.live === undefined) return answer(built.answer, undefined);
    live = built.live;
    instances.set(task.instanceId, live);
    if (task.kind === 'open') return answer({ ...built.answer, state: packState(live.capture()) }, live);
  }
  if (live === undefined) return answer({ missing: true }, undefined);
  if (task.kind === 'snapshot') {
    const state = packState(live.capture());
    if (task.drop) instances.delete(task.instanceId);
    return answer({ state }, live);
  }
  const evaluation = live.call(task.call);
  // A trap may have left the memory half-written: forget it; the device rebuilds it from its last good state.
  if (live.broken) instances.delete(task.instanceId);
  return answer({ evaluation }, live);
}
