// Instance lanes: single-thread Piscina pools, one per lane, so that every task of an instance reaches the
// thread that holds it (Piscina cannot route a task to a chosen thread of a larger pool). This file and
// pool.ts are the only ones that know a worker entry's path.
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { InstanceAnswer, InstanceTask } from './instance-protocol.js';

export interface InstanceLanes {
  readonly count: number;
  /** Runs `task` on lane `lane`'s thread; aborting it terminates that thread (Piscina starts a new one). */
  run(lane: number, task: InstanceTask, signal?: AbortSignal): Promise<InstanceAnswer>;
  /** Threads started to replace one that exited, over all lanes. */
  restarts(): number;
  destroy(): Promise<void>;
}

/** The compiled lane worker. Tests run src/ through vitest, so they use the build in dist/. */
function workerFilename(): string {
  const here = new URL(import.meta.url);
  const url = here.pathname.endsWith('.ts')
    ? new URL(here.href.replace(/\/src\/worker\/instance-lanes\.ts$/, '/dist/worker/instance.js'))
    : new URL('./instance.js', here);
  return fileURLToPath(url);
}

export function createInstanceLanes(count: number): InstanceLanes {
  let created = 0;
  const lanes = Array.from({ length: count }, () => {
    const piscina = new Piscina<InstanceTask, InstanceAnswer>({
      filename: workerFilename(),
      minThreads: 1,
      maxThreads: 1,
      // A lane's thread holds live instances: it must never be retired for being idle.
      idleTimeout: Infinity,
      // The device hands a lane one task at a time.
      maxQueue: 4,
      concurrentTasksPerWorker: 1,
      // As in pool.ts: import() the entry, not Node 20's require(esm).
      execArgv: ['--no-experimental-require-module'],
    });
    piscina.on('workerCreate', () => created++);
    // Piscina emits 'error' for an answer whose task it already settled (aborted, or the pool destroyed under
    // it); the device recorded that task's outcome when it aborted it. Unheard, the event would end the process.
    piscina.on('error', () => {});
    return piscina;
  });
  return {
    count,
    run: (lane, task, signal) => {
      const piscina = lanes[lane];
      if (piscina === undefined) return Promise.reject(new RangeError(`no lane ${lane}`));
      return piscina.run(task, signal ? { signal } : {});
    },
    restarts: () => Math.max(0, created - count),
    destroy: async () => {
      await Promise.all(lanes.map((p) => p.destroy()));
    },
  };
}
