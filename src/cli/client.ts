// The service's HTTP API as the CLI uses it: one method per route, failures as typed errors.
import type { Problem } from '../errors.js';
import type { JobView, RunAccepted, RunRequest } from '../schemas/job.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';
const DEVICE = '/~wasm64@1.0';
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

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
  signal?: AbortSignal;
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

  /** `server` is an absolute http(s) URL; a path in it (a proxy prefix) is kept. */
  constructor(server: string) {
    this.server = server.replace(/\/+$/, '');
  }

  /** POST /run: submits a job; the answer carries its id. */
  run(request: RunRequest): Promise<RunAccepted> {
    return this.#request<RunAccepted>('POST', '/run', { body: request });
  }

  /** GET /status/:id: the job as it is now. */
  status(id: string, signal?: AbortSignal): Promise<JobView> {
    return this.#request<JobView>('GET', `/status/${encodeURIComponent(id)}`, signal ? { signal } : {});
  }

  /**
   * Resolves with the job once it is terminal. Polls with a backoff from 25 ms to 1 s, which keeps a
   * quick job quick and a long one cheap; rejects with the signal's reason when it aborts.
   */
  async waitFor(id: string, { signal, onUpdate }: WaitOptions = {}): Promise<JobView> {
    for (let delay = 25; ; delay = Math.min(delay * 2, 1000)) {
      const job = await this.status(id, signal);
      if (isTerminal(job)) return job;
      onUpdate?.(job);
      await sleep(delay, signal);
    }
  }

  async #request<T>(method: string, path: string, { body, signal }: RequestOptions): Promise<T> {
    const url = `${this.server}${DEVICE}${path}`;
    const init: RequestInit = { method, headers: { accept: 'application/json, application/problem+json' } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { ...init.headers, 'content-type': 'application/json' };
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
