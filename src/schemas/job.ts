// The job resource: what POST /run accepts and what GET /status returns.
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { MAX_CALL_LENGTH } from '../wasm/call.js';

export const MAX_PARAMETERS = 1000;

const Value = Type.Union([Type.Number(), Type.String({ maxLength: 1024 })], {
  description: 'A number, or a string holding one: decimal integers beyond 2^53 (exact i64), "NaN", "Infinity", "-Infinity"',
});

export const RunRequestSchema = Type.Object(
  {
    code: Type.Optional(
      Type.String({ minLength: 1, maxLength: MAX_CALL_LENGTH, description: 'A call expression such as add(2,3)', examples: ['add(2,3)'] }),
    ),
    function: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'The exported function to call' })),
    parameters: Type.Optional(Type.Array(Value, { maxItems: MAX_PARAMETERS, description: 'Its parameters, typed by its signature' })),
  },
  { additionalProperties: false, description: 'Either `code`, or `function` with `parameters`' },
);
export type RunRequest = Static<typeof RunRequestSchema>;

export const JobStatusSchema = Type.Union(
  [Type.Literal('queued'), Type.Literal('running'), Type.Literal('completed'), Type.Literal('failed'), Type.Literal('cancelled')],
);

export const JobErrorSchema = Type.Object(
  { code: Type.String({ description: 'Stable error code, e.g. WASM64_TRAP' }), message: Type.String() },
);

export const JobSchema = Type.Object(
  {
    id: Type.String(),
    status: JobStatusSchema,
    module_id: Type.String({ description: 'sha256:<hex> of the module the job runs' }),
    function: Type.String(),
    parameters: Type.Array(Type.Union([Type.Number(), Type.String()])),
    result: Type.Optional(Type.Union([Type.Number(), Type.String(), Type.Null()], { description: 'The first result' })),
    results: Type.Optional(Type.Array(Type.Union([Type.Number(), Type.String()]), { description: 'Every result' })),
    error: Type.Optional(JobErrorSchema),
    created_at: Type.String({ format: 'date-time' }),
    started_at: Type.Optional(Type.String({ format: 'date-time' })),
    finished_at: Type.Optional(Type.String({ format: 'date-time' })),
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
