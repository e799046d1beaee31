// Piscina worker entry: enables memory64 for this thread, then evaluates each batch of jobs it is given.
import { performance } from 'node:perf_hooks';
import { enableMemory64 } from '../wasm/features.js';
import { evaluate } from '../wasm/evaluate.js';
import { InstanceCache } from '../wasm/reuse.js';
import { BatchControl } from './batch-control.js';
import type { BatchOutcome, EvaluateBatch, EvaluateOutcome, EvaluateTask } from './protocol.js';

enableMemory64();

/** Reset instances kept on this thread: each holds at most REUSE_MAX_MEMORY_BYTES of memory plus its image. */
const instances = new InstanceCache(32);

function evaluateTask(task: EvaluateTask, startedAt: number): EvaluateOutcome {
  const t0 = performance.now();
  const { reuse } = task;
  const options = { ...task.call, instrumentation: task.instrumentation, fuel: task.fuel };
  let instance: WebAssembly.Instance | undefined;
  const evaluation = evaluate(task.module, task.function, task.parameters, reuse === null ? options : {
    ...options,
    instantiate: (module) => (instance = instances.instantiate(reuse.key, module, reuse.plan)),
  });
  const durationMs = performance.now() - t0;
  if (instance !== undefined && reuse !== null) instances.release(reuse.key, instance);
  return { ...evaluation, startedAt, durationMs };
}

export default function run(batch: EvaluateBatch): BatchOutcome {
  const control = new BatchControl(batch.control);
  const outcomes: BatchOutcome = [];
  for (let i = 0; i < batch.tasks.length; i++) {
    const task = batch.tasks[i];
    if (task === undefined || !control.claim(i, Date.now())) {
      outcomes.push(null);
      continue;
    }
    outcomes.push(evaluateTask(task, control.startedAt(i)));
    control.finish(i);
  }
  return outcomes;
}
