// The service's HTTP API as the CLI uses it: one method per route, failures as typed errors.
import type { InstanceCreate, InstanceList, InstanceView, SnapshotView } from '../schemas/instance.js';
import type { Problem } from '../errors.js';
import type { JobList, JobView, RunAccepted, RunRequest } from '../schemas/job.js';
import type { ModuleView } from '../schemas/module.js';
import type { ModuleSource } from './module-file.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';
const DEVICE = '/~wasm64@1.0';
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
/** How long one status request asks the server to hold it; short enough that a spinner's status stays fresh. */
const LONG_POLL_SECONDS = 5;

export function isTerminal(job: JobView): boolean {
  return TERMINAL.has(job.status);
}

/** Nothing answered at the server URL, or what answered is not this service. */
export class ServerUnreachableError extends Error {
  override readonly name = 'ServerUnreachableError';
  constructor(
    readonly server: string,
    readonly reason: string,
  ) {
    super(`${server}: ${reason}`);
  }
}

/** The service answered with an RFC 9457 problem: the request was refused or failed. */
export class ProblemError extends Error {
  override readonly name = 'ProblemError';
  constructor(readonly problem: Problem) {
    super(`${problem.code}: ${problem.detail}`);
  }
}

interface RequestOptions {
  body?: unknown;
  /** Sent as it is, with its own content type, instead of a JSON body. */
  raw?: { type: string; bytes: Uint8Array };
  headers?: Record<string, string>;
  query?: Record<string, string | undefined>;
  signal?: AbortSignal;
}

export interface RunOptions {
  /** Sent as Idempotency-Key: repeating the same request with it returns the same job. */
  idempotencyKey?: string;
}

export interface StatusOptions {
  /** Seconds the server may hold the request until the job is terminal (`?wait=`). */
  waitSeconds?: number;
  signal?: AbortSignal;
}

export interface ListOptions {
  status?: string;
  limit?: number;
  cursor?: string;
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Called with each answer that is not yet terminal, so that a spinner can show the status. */
  onUpdate?: (job: JobView) => void;
}

/** Says why fetch failed, from the cause node gives it (ECONNREFUSED, ENOTFOUND, an AggregateError of both families). */
function describeNetworkError(err: unknown): string {
  let cause: unknown = err instanceof Error ? err.cause : undefined;
  if (cause instanceof AggregateError && cause.errors[0] instanceof Error) cause = cause.errors[0];
  if (cause instanceof Error && cause.message !== '') return cause.message;
  return err instanceof Error ? err.message : String(err);
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    }, { once: true });
  });

export class DispatcherClient {
  readonly server: string;
  readonly #token: string | undefined;

  /** `server` is an absolute http(s) URL (a path in it, a proxy prefix, is kept); `token` is sent as a Bearer token. */
  constructor(server: string, token?: string) {
    this.server = server.replace(/\/+$/, '');
    this.#token = token;
  }

  /** POST /run: submits a job; the answer carries its id. */
  run(request: RunRequest, { idempotencyKey }: RunOptions = {}): Promise<RunAccepted> {
    return this.#request<RunAccepted>('POST', '/run', {
      body: request,
      ...(idempotencyKey === undefined ? {} : { headers: { 'idempotency-key': idempotencyKey } }),
    });
  }

  /** GET /status/:id: the job as it is now, or, with `waitSeconds`, once it ends or that time has passed. */
  status(id: string, { waitSeconds, signal }: StatusOptions = {}): Promise<JobView> {
    return this.#request<JobView>('GET', `/status/${encodeURIComponent(id)}`, {
      query: { wait: waitSeconds === undefined ? undefined : String(waitSeconds) },
      ...(signal ? { signal } : {}),
    });
  }

  /** POST /cancel/:id: the job, now cancelled. */
  cancel(id: string): Promise<JobView> {
    return this.#request<JobView>('POST', `/cancel/${encodeURIComponent(id)}`, {});
  }

  /** POST /modules: stores a module (a binary as application/wasm, text as JSON `wat`) and describes it. */
  addModule(source: ModuleSource): Promise<ModuleView> {
    return this.#request<ModuleView>(
      'POST',
      '/modules',
      source.kind === 'wasm' ? { raw: { type: 'application/wasm', bytes: source.bytes } } : { body: { wat: source.text } },
    );
  }

  /** GET /modules/:id: a stored module's description. */
  module(id: string): Promise<ModuleView> {
    return this.#request<ModuleView>('GET', `/modules/${encodeURIComponent(id)}`, {});
  }

  /** POST /instances: creates a live instance (or restores one from a snapshot) and describes it. */
  createInstance(body: InstanceCreate): Promise<InstanceView> {
    return this.#request<InstanceView>('POST', '/instances', { body });
  }

  /** GET /instances: every instance, and how many are resident. */
  instances(): Promise<InstanceList> {
    return this.#request<InstanceList>('GET', '/instances', {});
  }

  /** GET /instances/:id */
  instance(id: string): Promise<InstanceView> {
    return this.#request<InstanceView>('GET', `/instances/${encodeURIComponent(id)}`, {});
  }

  /** DELETE /instances/:id: the instance as it was. */
  deleteInstance(id: string): Promise<InstanceView> {
    return this.#request<InstanceView>('DELETE', `/instances/${encodeURIComponent(id)}`, {});
  }

  /** GET /instances/:id/snapshot */
  snapshot(id: string): Promise<SnapshotView> {
    return this.#request<SnapshotView>('GET', `/instances/${encodeURIComponent(id)}/snapshot`, {});
  }

  /** GET /jobs: a page of jobs, newest first, with the cursor of the next page. */
  list({ status, limit, cursor }: ListOptions = {}): Promise<JobList> {
    return this.#request<JobList>('GET', '/jobs', { query: { status, limit: limit === undefined ? undefined : String(limit), cursor } });
  }

  /**
   * Resolves with the job once it is terminal, by long-polling its status. A server that answers at
   * once instead (its waiting-client cap reached, or WAIT_MAX_SECONDS=0) gets a backoff from 25 ms
   * to 1 s rather than a busy loop. Rejects with the signal's reason when it aborts.
   */
  async waitFor(id: string, { signal, onUpdate }: WaitOptions = {}): Promise<JobView> {
    for (let delay = 25; ; ) {
      const asked = Date.now();
      const job = await this.status(id, { waitSeconds: LONG_POLL_SECONDS, ...(signal ? { signal } : {}) });
      if (isTerminal(job)) return job;
      onUpdate?.(job);
      if (Date.now() - asked < (LONG_POLL_SECONDS * 1000) / 2) {
        await sleep(delay, signal);
        delay = Math.min(delay * 2, 1000);
      }
    }
  }

  async #request<T>(method: string, path: string, { body, raw, headers = {}, query = {}, signal }: RequestOptions): Promise<T> {
    const search = new URLSearchParams(Object.entries(query).filter((entry): entry is [string, string] => entry[1] !== undefined));
    const url = `${this.server}${DEVICE}${path}${search.size > 0 ? `?${search.toString()}` : ''}`;
    const auth = this.#token === undefined ? {} : { authorization: `Bearer ${this.#token}` };
    const init: RequestInit = { method, headers: { accept: 'application/json, application/problem+json', ...auth, ...headers } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { ...init.headers, 'content-type': 'application/json' };
    } else if (raw !== undefined) {
      init.body = raw.bytes;
      init.headers = { ...init.headers, 'content-type': raw.type };
    }
    if (signal) init.signal = signal;
    let response: Response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw new ServerUnreachableError(this.server, describeNetworkError(err));
    }
    const type = response.headers.get('content-type') ?? '';
    if (!/^application\/(problem\+)?json/.test(type)) {
      await response.body?.cancel();
      throw new ServerUnreachableError(
        this.server,
        `it answered ${method} ${DEVICE}${path} with ${response.status} ${type || 'and no content type'}`,
      );
    }
    const payload: unknown = await response.json();
    if (!response.ok) {
      const problem = payload as Partial<Problem>;
      if (typeof problem.code !== 'string') {
        throw new ServerUnreachableError(this.server, `it answered ${response.status} without an error code`);
      }
      throw new ProblemError(payload as Problem);
    }
    return payload as T;
  }
}
