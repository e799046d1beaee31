// The service's Prometheus metrics: HTTP traffic, jobs, the queue, the worker pool, and the process itself.
import { collectDefaultMetrics, Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { DeviceEvents } from './device/job-device.js';
import type { ModuleStoreStats } from './device/module-store.js';
import type { WorkerStats } from './worker/pool.js';

/**
 * The device, as metrics see it: its events (counted as they happen) and its state (read at each
 * scrape, so a scrape always sees the present).
 */
export interface MetricsSources {
  /** Jobs waiting for a worker. */
  readonly queued: number;
  /** Requests held open until a job settles (Prefer: wait, long polls). */
  readonly waiting: number;
  readonly workers: WorkerStats;
  readonly modules: { stats(): ModuleStoreStats };
  /** False while Redis (STORE=redis) cannot be reached. */
  readonly storeAvailable: boolean;
  on<K extends keyof DeviceEvents>(event: K, listener: (...args: DeviceEvents[K]) => void): unknown;
}

export interface Metrics {
  readonly registry: Registry;
  /** Records one answered HTTP request under its route pattern (never the raw URL: ids would explode the labels). */
  httpRequest(method: string, route: string, status: number, seconds: number): void;
}

// From 100 µs (add) to a minute (a long computation), roughly ×2.5 per bucket.
const JOB_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const HTTP_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A Prometheus counter that mirrors a total kept elsewhere, advancing by what it grew since the last scrape. */
function mirroredCounter(registry: Registry, name: string, help: string, read: () => number): Counter {
  let seen = 0;
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read();
      if (now > seen) this.inc(now - seen);
      seen = now;
    },
  });
}

/** Registers every metric in `registry` (one per app, so tests can build apps side by side) and listens to `sources`. */
export function createMetrics(registry: Registry, sources: MetricsSources): Metrics {
  collectDefaultMetrics({ register: registry });

  const gauge = (name: string, help: string, read: () => number): Gauge =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  gauge('wasm64_queue_depth', 'Jobs waiting for a worker (with STORE=redis: across the cluster, as this replica last saw it)', () => sources.queued);
  gauge('wasm64_waiting_requests', 'Requests held open until a job settles (Prefer: wait, GET /status?wait=); at WAIT_MAX_CLIENTS more answer at once', () => sources.waiting);
  gauge('wasm64_store_up', '1 when the job store answers (always with STORE=memory; Redis reachable with STORE=redis)', () => (sources.storeAvailable ? 1 : 0));
  gauge('wasm64_workers_live', 'Worker threads alive', () => sources.workers.live);
  gauge('wasm64_workers_busy', 'Worker threads executing a job', () => sources.workers.busy);
  mirroredCounter(registry, 'wasm64_worker_restarts_total', 'Worker threads started to replace one that exited', () => sources.workers.restarts);
  const modules = (): ModuleStoreStats => sources.modules.stats();
  mirroredCounter(registry, 'wasm64_compile_cache_hits_total', 'Jobs that ran already compiled code', () => modules().hits);
  mirroredCounter(registry, 'wasm64_compile_cache_misses_total', 'Jobs whose submission had to compile', () => modules().misses);
  mirroredCounter(registry, 'wasm64_module_compiles_total', 'Module compilations (uploads, and variants instrumented for limits)', () => modules().compiles);
  mirroredCounter(registry, 'wasm64_module_evictions_total', 'Modules evicted from the bounded module store', () => modules().evictions);
  gauge('wasm64_modules_stored', 'Modules in the module store', () => modules().modules);
  gauge('wasm64_module_store_bytes', 'Bytes of modules in the module store', () => modules().bytes);

  const labels = ['method', 'route', 'status_code'] as const;
  const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered', labelNames: labels, registers: [registry] });
  const latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer an HTTP request',
    labelNames: labels,
    buckets: HTTP_SECONDS,
    registers: [registry],
  });

  const jobs = new Counter({
    name: 'wasm64_jobs_total',
    help: 'Jobs that reached a terminal state, by status and error code',
    labelNames: ['status', 'code'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'wasm64_job_duration_seconds',
    help: 'Time a job spent executing WebAssembly',
    buckets: JOB_SECONDS,
    registers: [registry],
  });
  const queueWait = new Histogram({
    name: 'wasm64_job_queue_wait_seconds',
    help: 'Time from a job being accepted to it starting on a worker',
    buckets: JOB_SECONDS,
    registers: [registry],
  });

  sources.on('started', (_job, queueWaitMs) => queueWait.observe(queueWaitMs / 1000));
  sources.on('settled', (job) => {
    jobs.inc({ status: job.status, code: job.error?.code ?? '' });
    if (job.durationMs !== undefined) duration.observe(job.durationMs / 1000);
  });

  const perLabels = new Map<string, { count: { inc(): void }; latency: { observe(value: number): void } }>();
  return {
    registry,
    httpRequest(method, route, status, seconds) {
      // One pair of labelled children per method, route and status (a bounded set: route templates, not
      // URLs), so a request does not make prom-client hash its label object twice.
      const key = `${method} ${route} ${status}`;
      let children = perLabels.get(key);
      if (children === undefined) {
        const values = { method, route, status_code: String(status) };
        children = { count: requests.labels(values), latency: latency.labels(values) };
        perLabels.set(key, children);
      }
      children.count.inc();
      children.latency.observe(seconds);
    },
  };
}
