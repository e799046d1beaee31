// Piscina worker entry: enables memory64 for this thread, then evaluates each batch of jobs it is given.
import { performance } from 'node:perf_hooks';
import { enableMemory64 } from '../wasm/features.js';
import { evaluate } from '../wasm/evaluate.js';
import { BatchControl } from './batch-control.js';
import type { BatchOutcome, EvaluateBatch, EvaluateOutcome, EvaluateTask } from './protocol.js';

enableMemory64();

function evaluateTask(task: EvaluateTask, startedAt: number): EvaluateOutcome {
  const t0 = performance.now();
  const evaluation = evaluate(task.module, task.function, task.parameters, { ...task.call, instrumentation: task.instrumentation, fuel: task.fuel });
  return { ...evaluation, startedAt, durationMs: performance.now() - t0 };
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
