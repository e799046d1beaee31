// The job resource: what POST /run accepts and what GET /status returns.
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { MAX_CALL_LENGTH } from '../wasm/call.js';

export const MAX_PARAMETERS = 1000;

const Value = Type.Union([Type.Number(), Type.String({ maxLength: 1024 })], {
  description: 'A number, or a string holding one: decimal integers beyond 2^53 (exact i64), "NaN", "Infinity", "-Infinity"',
});

export const ModuleIdSchema = Type.String({
  pattern: '^(sha256:)?[0-9a-fA-F]{64}$',
  description: 'sha256:<hex> of a module in the store (POST /~wasm64@1.0/modules answers it)',
});

/** The per-job limits, in a JSON body. */
const LimitFields = {
  memory_limit: Type.Optional(
    Type.Integer({
      minimum: 65_536,
      description: 'Bytes the module\'s memory may grow to, in whole 64 KiB pages (default DEFAULT_MEMORY_LIMIT, at most MAX_MEMORY_LIMIT); growing past it fails the job with WASM64_MEMORY_LIMIT',
    }),
  ),
  fuel: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      description: 'Instructions the job may execute (default DEFAULT_FUEL, at most MAX_FUEL); past it the job fails with WASM64_FUEL_EXHAUSTED',
    }),
  ),
};
export const MemoryParameterSchema = Type.Union(
  [
    Type.Object(
      { string: Type.String({ description: 'Written as UTF-8 with a terminating NUL' }), length: Type.Optional(Type.Boolean({ description: 'Also pass the byte length (NUL excluded) as the next parameter' })) },
      { additionalProperties: false },
    ),
    Type.Object(
      { bytes: Type.String({ contentEncoding: 'base64', description: 'Written as is' }), length: Type.Optional(Type.Boolean({ description: 'Also pass the byte length as the next parameter' })) },
      { additionalProperties: false },
    ),
  ],
  { description: "Placed in the module's memory through its allocator; the function receives the pointer (an i32, or an i64 on memory64)" },
);

export const WasiSchema = Type.Object(
  {
    args: Type.Optional(Type.Array(Type.String({ maxLength: 65_536 }), { maxItems: 10_000, description: 'argv after argv[0] (which is "main.wasm")' })),
    env: Type.Optional(Type.Record(Type.String(), Type.String(), { maxProperties: 10_000, description: 'The environment, NAME: value' })),
    stdin: Type.Optional(Type.String({ description: 'Standard input: text, or base64 with stdin_base64' })),
    stdin_base64: Type.Optional(Type.Boolean({ description: 'stdin is base64 (binary input)' })),
    deterministic: Type.Optional(Type.Boolean({ description: 'Virtual clocks and seeded random_get: the same job prints the same output' })),
    seed: Type.Optional(
      Type.Union([Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }), Type.String({ maxLength: 1024 })], { description: 'Seed of the deterministic random stream (default 0)' }),
    ),
  },
  { additionalProperties: false, description: 'Runs the module as a WASI preview1 program, in memory: no files, sockets or host process' },
);

export const ReturnsSchema = Type.Object(
  {
    type: Type.Union([Type.Literal('string'), Type.Literal('bytes')], { description: '"string": `result` is text (base64 if not UTF-8); "bytes": `result` is base64' }),
    length: Type.Optional(
      Type.Union([Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }), Type.Literal('next')], {
        description: 'Bytes to read; "next": the function\'s second result; absent: up to a NUL byte',
      }),
    ),
  },
  { additionalProperties: false, description: "Read the result from memory: the function's first result is a pointer" },
);

export const RunRequestSchema = Type.Object(
  {
    code: Type.Optional(
      Type.String({ minLength: 1, maxLength: MAX_CALL_LENGTH, description: 'A call expression such as add(2,3)', examples: ['add(2,3)'] }),
    ),
    function: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'The exported function to call' })),
    parameters: Type.Optional(
      Type.Array(Type.Union([Value, MemoryParameterSchema]), { maxItems: MAX_PARAMETERS, description: 'Its parameters, typed by its signature' }),
    ),
    wasi: Type.Optional(WasiSchema),
    allocator: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'The export that allocates memory for string and bytes parameters (default "malloc")' })),
    returns: Type.Optional(ReturnsSchema),
    timeout_ms: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'End the job `failed` with WASM64_TIMEOUT once it has run this long (default DEFAULT_TIMEOUT_MS, at most MAX_TIMEOUT_MS)',
      }),
    ),
    module: Type.Optional(Type.String({ minLength: 1, contentEncoding: 'base64', description: 'The module to run: a wasm binary (wasm32 or memory64), base64' })),
    wat: Type.Optional(Type.String({ minLength: 1, description: 'The module to run, as WebAssembly text' })),
    module_id: Type.Optional(ModuleIdSchema),
    ...LimitFields,
    instance_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Run against this live instance (POST /~wasm64@1.0/instances) instead of a fresh one' })),
    message: Type.Optional(Type.Unknown({ description: 'With instance_id: an AO message, any JSON, passed to the process\'s handle(msgPtr, envPtr) as a JSON string' })),
    env: Type.Optional(Type.Unknown({ description: 'With message: the environment passed as handle\'s second JSON string (default {})' })),
  },
  {
    additionalProperties: false,
    description: 'Either `code`, or `function` with `parameters` (a WASI command, exporting `_start`, may name neither); the module is `module`, `wat` or `module_id` (at most one; none runs the default module)',
  },
);
export type RunRequest = Static<typeof RunRequestSchema>;

/** An application/wasm body: the module's bytes (parsed to a Buffer, so the schema only documents it). */
export const WasmBodySchema = Type.Any({ format: 'binary', description: 'The module (a wasm binary, wasm32 or memory64), as raw bytes' });

export const JobStatusSchema = Type.Union(
  [Type.Literal('queued'), Type.Literal('running'), Type.Literal('completed'), Type.Literal('failed'), Type.Literal('cancelled')],
  { description: 'queued → running → completed | failed | cancelled (a queued job may be cancelled before it runs)' },
);

export const JobErrorSchema = Type.Object(
  {
    code: Type.String({
      description: 'Stable error code: WASM64_TRAP, WASM64_FUEL_EXHAUSTED, WASM64_MEMORY_LIMIT, WASM64_STACK_OVERFLOW, WASM64_TIMEOUT, WASM64_CANCELLED, WASM64_SHUTDOWN, WASM64_WORKER_FAILED, WASM64_INTERNAL; on an instance also WASM64_INSTANCE_OUTPUT, WASM64_INSTANCE_LOST; with STORE=redis also WASM64_REPLICA_LOST, WASM64_STORE_UNAVAILABLE, WASM64_MODULE_NOT_FOUND',
    }),
    message: Type.String({ maxLength: 1024 }),
  },
  { description: 'Why the job failed or was cancelled' },
);

export const JobSchema = Type.Object(
  {
    id: Type.String(),
    status: JobStatusSchema,
    module_id: Type.String({ description: 'sha256:<hex> of the module the job runs' }),
    function: Type.String(),
    parameters: Type.Array(Type.Union([Type.Number(), Type.String(), MemoryParameterSchema])),
    timeout_ms: Type.Integer({ description: 'The timeout the job runs under' }),
    memory_limit: Type.Optional(Type.Integer({ description: 'The bytes its memory may grow to' })),
    fuel: Type.Optional(Type.Integer({ description: 'The fuel it was granted (absent: unmetered)' })),
    fuel_used: Type.Optional(Type.Integer({ description: 'Fuel it consumed: one unit per instruction executed (else and end are free)' })),
    result: Type.Optional(
      Type.Unknown({ description: 'The first result (a number, a string or null); with `returns`, what it pointed at (text, or base64 when result_base64); for an AO message, the JSON the process answered' }),
    ),
    instance_id: Type.Optional(Type.String({ description: 'The instance the job ran against' })),
    result_base64: Type.Optional(Type.Boolean({ description: 'With `returns`: `result` is base64 (bytes, or a string that is not UTF-8)' })),
    results: Type.Optional(Type.Array(Type.Union([Type.Number(), Type.String()]), { description: 'Every result, as the function returned them' })),
    exit_code: Type.Optional(Type.Integer({ description: 'WASI: the code the program exited with (0 when _start returned)' })),
    stdout: Type.Optional(Type.String({ description: 'WASI: standard output, text (or base64 when stdout_base64)' })),
    stdout_base64: Type.Optional(Type.Boolean()),
    stderr: Type.Optional(Type.String({ description: 'WASI: standard error, text (or base64 when stderr_base64)' })),
    stderr_base64: Type.Optional(Type.Boolean()),
    truncated: Type.Optional(Type.Boolean({ description: 'stdout, stderr or a result read from memory was cut at OUTPUT_LIMIT bytes' })),
    error: Type.Optional(JobErrorSchema),
    created_at: Type.String({ format: 'date-time', description: 'When the job was accepted (queued)' }),
    started_at: Type.Optional(Type.String({ format: 'date-time', description: 'When it got a thread (running)' })),
    finished_at: Type.Optional(Type.String({ format: 'date-time', description: 'When it became completed, failed or cancelled' })),
    duration_ms: Type.Optional(Type.Number({ description: 'Time spent executing wasm, in milliseconds' })),
  },
);
export type JobView = Static<typeof JobSchema>;

export const RunAcceptedSchema = Type.Object(
  {
    id: Type.String(),
    status: JobStatusSchema,
    status_url: Type.String({ description: 'Where to poll for the job' }),
  },
);
export type RunAccepted = Static<typeof RunAcceptedSchema>;

export const JobParamsSchema = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

const Digits = (description: string): ReturnType<typeof Type.String> => Type.String({ pattern: '^[0-9]{1,16}$', description });

/** The call and limits of a run whose body is the raw module (`Content-Type: application/wasm`), as HyperBEAM takes them. */
export const RunQuerySchema = Type.Object(
  {
    function: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'The exported function to call (application/wasm bodies only)' })),
    parameters: Type.Optional(
      Type.Union([Type.String({ maxLength: 1024 }), Type.Array(Type.String({ maxLength: 1024 }), { maxItems: MAX_PARAMETERS })], {
        description: 'A parameter; repeat it for each one, in order (application/wasm bodies only)',
      }),
    ),
    code: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_CALL_LENGTH, description: 'A call expression, instead of function and parameters' })),
    timeout_ms: Type.Optional(Digits('As timeout_ms in a JSON body')),
    memory_limit: Type.Optional(Digits('As memory_limit in a JSON body')),
    fuel: Type.Optional(Digits('As fuel in a JSON body')),
  },
  { additionalProperties: false },
);
export type RunQuery = Static<typeof RunQuerySchema>;

// Query strings are not coerced (TypeBox checks values as they are): numbers arrive as strings with a pattern.
export const StatusQuerySchema = Type.Object(
  {
    wait: Type.Optional(
      Type.String({
        pattern: '^[0-9]{1,6}(\\.[0-9]{1,3})?$',
        description: 'Seconds (e.g. 30 or 0.5): hold the request until the job is terminal or this long has passed (capped at WAIT_MAX_SECONDS)',
      }),
    ),
  },
  { additionalProperties: false },
);

export const RunHeadersSchema = Type.Object({
  prefer: Type.Optional(Type.String({ maxLength: 1024, description: 'RFC 7240; `wait=<seconds>` answers 200 with the finished job if it ends in time' })),
  'idempotency-key': Type.Optional(
    Type.String({ minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7E]+$', description: 'Repeating a request with the same key and body returns the same job' }),
  ),
});

export const ListQuerySchema = Type.Object(
  {
    status: Type.Optional(JobStatusSchema),
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: 'Jobs per page, 1 to 1000 (default 50)' })),
    cursor: Type.Optional(Type.String({ maxLength: 64, description: 'next_cursor of the previous page' })),
  },
  { additionalProperties: false },
);

export const JobListSchema = Type.Object({
  jobs: Type.Array(JobSchema, { description: 'Newest first' }),
  next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` for the next page; null on the last page' }),
});
export type JobList = Static<typeof JobListSchema>;
