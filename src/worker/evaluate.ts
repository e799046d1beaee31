// Piscina worker entry: enables memory64 for this thread, then evaluates each task it is given.
import { performance } from 'node:perf_hooks';
import { enableMemory64 } from '../wasm/features.js';
import { evaluate } from '../wasm/evaluate.js';
import type { EvaluateOutcome, EvaluateTask } from './protocol.js';

enableMemory64();

export default function run(task: EvaluateTask): EvaluateOutcome {
  const startedAt = Date.now();
  const t0 = performance.now();
  const evaluation = evaluate(task.module, task.function, task.parameters, { ...task.call, instrumentation: task.instrumentation, fuel: task.fuel });
  return { ...evaluation, startedAt, durationMs: performance.now() - t0 };
}
