// The one table of error codes the service answers with: stable code, HTTP status, and what to do.
export const ERRORS = {
  WASM64_BAD_REQUEST: { status: 400, title: 'The request does not match the API schema' },
  WASM64_MALFORMED_JSON: { status: 400, title: 'The body is not valid JSON' },
  WASM64_EMPTY_BODY: { status: 400, title: 'The body is empty; send a JSON object' },
  WASM64_CALL_SYNTAX: { status: 400, title: 'The call expression does not parse; write it as name(arg, ...)' },
  WASM64_CALL_CONFLICT: { status: 400, title: 'Send either "code" or "function" with "parameters", not both' },
  WASM64_MISSING_FUNCTION: { status: 400, title: 'Name the function to run with "code" or "function"' },
  WASM64_UNKNOWN_FUNCTION: { status: 400, title: 'The module exports no function of that name' },
  WASM64_PARAMETER_COUNT: { status: 400, title: 'The function takes a different number of parameters' },
  WASM64_PARAMETER_TYPE: { status: 400, title: 'A parameter does not fit the type the function declares' },
  WASM64_UNSUPPORTED_SIGNATURE: { status: 400, title: 'The function has a parameter or result type a job cannot pass' },
  WASM64_WASI_OPTIONS: { status: 400, title: 'The "wasi" options cannot be given to the program; fix the argument, variable or stdin named' },
  WASM64_ALLOCATOR: { status: 400, title: 'A string or bytes parameter needs an exported memory and allocator: export malloc, or name yours in "allocator"' },
  WASM64_RETURNS: { status: 400, title: '"returns" needs an exported memory and a function whose first result is a pointer' },
  WASM64_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type; send application/json (or application/wasm where a route takes a module)' },
  WASM64_BODY_TOO_LARGE: { status: 413, title: 'The body is larger than the configured limit (BODY_LIMIT)' },
  WASM64_TIMEOUT_TOO_LONG: { status: 400, title: 'timeout_ms is above the configured maximum (MAX_TIMEOUT_MS)' },
  WASM64_MODULE_CONFLICT: { status: 400, title: 'Name the module once: "module", "wat", "module_id" or a wasm body, not several' },
  WASM64_INVALID_MODULE: { status: 400, title: 'The module is not valid WebAssembly; the detail is the engine\'s message' },
  WASM64_INVALID_WAT: { status: 400, title: 'The WebAssembly text does not compile; the detail is the compiler\'s message' },
  WASM64_UNRESOLVED_IMPORT: { status: 400, title: 'The module imports something this service does not provide; the detail names each import' },
  WASM64_UNSUPPORTED_INSTRUCTION: { status: 400, title: 'The module must be rewritten for its limits but uses instructions the rewriter cannot decode' },
  WASM64_MEMORY_TOO_LARGE: { status: 400, title: 'The module\'s declared minimum memory is above the job\'s memory limit; raise memory_limit or shrink the module\'s memory' },
  WASM64_LIMIT_TOO_HIGH: { status: 400, title: 'memory_limit or fuel is above the configured maximum (MAX_MEMORY_LIMIT, MAX_FUEL)' },
  WASM64_MODULE_NOT_FOUND: { status: 404, title: 'No module has this id (it may have been evicted); upload it again' },
  WASM64_MODULE_TOO_LARGE: { status: 413, title: 'The module is larger than the configured limit (MAX_MODULE_BYTES)' },
  WASM64_BAD_CURSOR: { status: 400, title: 'The cursor is not one this service gave out; start again without it' },
  WASM64_JOB_NOT_FOUND: { status: 404, title: 'No job has this id (it may have expired)' },
  WASM64_JOB_FINISHED: { status: 409, title: 'The job has already finished; only queued or running jobs can be cancelled' },
  WASM64_IDEMPOTENCY_MISMATCH: { status: 422, title: 'This Idempotency-Key was used with a different request; use a new key' },
  WASM64_HEADERS_TOO_LARGE: { status: 431, title: 'The request headers are too large; send fewer or shorter headers' },
  WASM64_REQUEST_TIMEOUT: { status: 408, title: 'The request did not arrive in time; send it again' },
  WASM64_ROUTE_NOT_FOUND: { status: 404, title: 'No route has this path' },
  WASM64_METHOD_NOT_ALLOWED: { status: 405, title: 'This path does not take this method; the Allow header lists those it takes' },
  WASM64_UNAUTHORIZED: { status: 401, title: 'Send a valid API token as Authorization: Bearer <token>' },
  WASM64_RATE_LIMITED: { status: 429, title: 'Too many requests from this client; retry after the time in Retry-After' },
  WASM64_QUEUE_FULL: { status: 429, title: 'The job queue is full; retry after the time in Retry-After' },
  WASM64_SHUTTING_DOWN: { status: 503, title: 'The service is shutting down and accepts no new jobs' },
  WASM64_NOT_READY: { status: 503, title: 'The service is not ready for jobs; send them to another instance or retry' },
  WASM64_STORE_UNAVAILABLE: { status: 503, title: 'The shared job store (Redis) cannot be reached; retry after Retry-After' },
  WASM64_INTERNAL: { status: 500, title: 'Internal error' },
  WASM64_INSTANCE_NOT_FOUND: { status: 404, title: 'No instance has this id (it was deleted, or the service restarted); create it again, from a snapshot if you kept one' },
  WASM64_INSTANCE_LIMIT: { status: 409, title: 'The service holds MAX_INSTANCES instances; delete one first' },
  WASM64_INSTANCE_CONFLICT: { status: 400, title: 'The request mixes what belongs to an instance with what does not; the detail names the field' },
  WASM64_INSTANCE_SNAPSHOT: { status: 400, title: 'The snapshot cannot be restored: it does not match its hash or its module; send one GET /instances/:id/snapshot answered' },
  WASM64_INSTANCE_HANDLE: { status: 400, title: 'A message needs a process exporting handle(msgPtr, envPtr) -> outPtr, its memory and its allocator' },
  WASM64_INSTANCE_INIT: { status: 422, title: 'The instance\'s initialisation (_initialize or _start) failed; the detail says how' },
  WASM64_INSTANCES_UNAVAILABLE: { status: 501, title: 'Instances are not available in this store mode; run the service with STORE=memory for AO processes' },
  // Codes a job ends with (its `error.code`); the job itself is answered with 200.
  WASM64_TRAP: { status: 500, title: 'The module trapped' },
  WASM64_WORKER_FAILED: { status: 500, title: 'The worker running the job died' },
  WASM64_TIMEOUT: { status: 500, title: 'The job ran longer than its timeout_ms; its thread was terminated' },
  WASM64_CANCELLED: { status: 500, title: 'The job was cancelled on request' },
  WASM64_SHUTDOWN: { status: 503, title: 'The service shut down before the job finished' },
  WASM64_FUEL_EXHAUSTED: { status: 500, title: 'The job used all its fuel; raise fuel to let it run longer' },
  WASM64_MEMORY_LIMIT: { status: 500, title: 'The job tried to grow its memory past its memory_limit' },
  WASM64_STACK_OVERFLOW: { status: 500, title: 'The job recursed deeper than the engine\'s call stack allows' },
  WASM64_MEMORY_IO: { status: 500, title: 'Placing a parameter in memory or reading the result from it failed' },
  WASM64_INSTANCE_OUTPUT: { status: 500, title: 'The process answered something that is not JSON (its state is kept)' },
  WASM64_INSTANCE_LOST: { status: 500, title: 'The instance could not be rebuilt from its last good state' },
  WASM64_REPLICA_LOST: { status: 503, title: 'The replica running the job stopped before it finished; submit the job again' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * The detail messages the device answers with more than once, beside the code they go with, each written once.
 * `fail(code, ...args)` builds the ServiceError; codes without an entry here take their message where they are thrown.
 */
const DETAILS = {
  WASM64_SHUTTING_DOWN: () => 'the service is shutting down; retry on another instance or after it restarts',
  WASM64_SHUTDOWN: () => 'the service shut down before the job finished',
  WASM64_TIMEOUT: (timeoutMs: number) => `the job ran longer than its timeout_ms of ${timeoutMs}`,
  WASM64_TIMEOUT_TOO_LONG: (maxMs: number, asked: number) => `timeout_ms may be at most ${maxMs}, got ${asked}`,
  WASM64_JOB_NOT_FOUND: (id: string) => `no job has the id "${id}"`,
  WASM64_JOB_FINISHED: (status: string) => `the job is already ${status}; only queued or running jobs can be cancelled`,
  WASM64_IDEMPOTENCY_MISMATCH: (key: string) => `the Idempotency-Key "${key}" was used for a different request; use a new key`,
  WASM64_QUEUE_FULL: (waiting: number | 'store', where = '') =>
    waiting === 'store' ? 'the job store is full of unfinished jobs; retry shortly' : `${waiting} ${where}jobs are already waiting; retry shortly`,
  WASM64_STORE_UNAVAILABLE: () => 'the job store (Redis) cannot be reached; retry shortly',
  WASM64_INSTANCES_UNAVAILABLE: () => 'instances live in one process\'s memory; run the service with STORE=memory for jobs on instances',
  WASM64_INSTANCE_NOT_FOUND: (id: string) => `no instance has the id "${id}"`,
  WASM64_MODULE_NOT_FOUND: (id: string) => `no module has the id "${id}"; upload it again with POST /~wasm64@1.0/modules`,
} satisfies Partial<Record<ErrorCode, (...args: never[]) => string>>;

/** Headers that go with a code whenever it is answered. */
const RETRY_SOON: Partial<Record<ErrorCode, Record<string, string>>> = {
  WASM64_QUEUE_FULL: { 'retry-after': '1' },
  WASM64_STORE_UNAVAILABLE: { 'retry-after': '1' },
};

type Detailed = keyof typeof DETAILS;

/** A failure a caller can act on: its code is stable, its message says what went wrong. */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message ?? ERRORS[code].title);
    this.status = ERRORS[code].status;
  }
}

/** An RFC 9457 problem document. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  instance?: string;
}

export function toProblem(code: ErrorCode, detail: string, instance?: string): Problem {
  const { status, title } = ERRORS[code];
  const problem: Problem = { type: `urn:wasm64:error:${code}`, title, status, detail, code };
  if (instance !== undefined) problem.instance = instance;
  return problem;
}

/** The ServiceError of `code`, with its detail message written once above. */
export function fail<C extends Detailed>(code: C, ...args: Parameters<(typeof DETAILS)[C]>): ServiceError {
  const detail = (DETAILS[code] as (...a: unknown[]) => string)(...args);
  return new ServiceError(code, detail, RETRY_SOON[code] ?? {});
}
