// The instance resource: what POST /instances accepts, what the instance routes answer, and the snapshot format.
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { ModuleIdSchema } from './job.js';

export const SNAPSHOT_FORMAT = 'wasm64-instance-snapshot/1';

export const InstanceWasiSchema = Type.Object(
  {
    args: Type.Optional(Type.Array(Type.String({ maxLength: 65_536 }), { maxItems: 10_000, description: 'argv after argv[0] (which is "main.wasm")' })),
    env: Type.Optional(Type.Record(Type.String(), Type.String(), { maxProperties: 10_000, description: 'The environment, NAME: value' })),
    deterministic: Type.Optional(Type.Boolean({ description: 'Virtual clock and a random stream seeded by (seed, message number), so that the instance replays identically (default true)' })),
    seed: Type.Optional(Type.Union([Type.Integer(), Type.String({ maxLength: 256 })], { description: 'The random stream\'s seed (default 0)' })),
  },
  { additionalProperties: false, description: 'WASI for every call of the instance; stdin is empty' },
);

const GlobalValueSchema = Type.Object(
  {
    name: Type.String({ maxLength: 1024 }),
    kind: Type.Union([Type.Literal('bigint'), Type.Literal('number')], { description: 'bigint: an i64, as a decimal string; number: i32, f32 or f64' }),
    value: Type.String({ maxLength: 64 }),
  },
  { additionalProperties: false },
);

export const SnapshotSchema = Type.Object(
  {
    format: Type.Literal(SNAPSHOT_FORMAT),
    module_id: ModuleIdSchema,
    memory_bytes: Type.Integer({ minimum: 0, description: 'Bytes of linear memory' }),
    hash: Type.String({ pattern: '^sha256:[0-9a-f]{64}$', description: 'sha256 of the uncompressed memory' }),
    compression: Type.Literal('deflate'),
    memory: Type.Union([Type.String({ contentEncoding: 'base64' }), Type.Null()], { description: 'The memory, deflated (zlib), base64; null for a module without an exported memory' }),
    globals: Type.Array(GlobalValueSchema, { maxItems: 100_000, description: 'Exported mutable globals' }),
    messages: Type.Integer({ minimum: 0, description: 'Calls completed: the message number of the next call (it seeds that call\'s random stream)' }),
    wasi: Type.Object(
      {
        args: Type.Array(Type.String()),
        env: Type.Record(Type.String(), Type.String()),
        deterministic: Type.Boolean(),
        seed: Type.Union([Type.Integer(), Type.String()]),
      },
      { additionalProperties: false },
    ),
    memory_limit: Type.Integer({ minimum: 65_536 }),
    fuel: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
  },
  { additionalProperties: false, description: 'An instance\'s whole state: GET /instances/:id/snapshot answers it, POST /instances with it restores an identical instance' },
);
export type SnapshotView = Static<typeof SnapshotSchema>;

export const InstanceCreateSchema = Type.Object(
  {
    module: Type.Optional(Type.String({ minLength: 1, contentEncoding: 'base64', description: 'The module: a wasm binary, base64' })),
    wat: Type.Optional(Type.String({ minLength: 1, description: 'The module, as WebAssembly text' })),
    module_id: Type.Optional(ModuleIdSchema),
    snapshot: Type.Optional(SnapshotSchema),
    wasi: Type.Optional(InstanceWasiSchema),
    init: Type.Optional(
      Type.Union([Type.Literal('_initialize'), Type.Literal('_start'), Type.Literal('none')], {
        description: 'What runs once, at creation: _initialize (the default when the module exports it), _start, or nothing',
      }),
    ),
    memory_limit: Type.Optional(Type.Integer({ minimum: 65_536, description: 'Bytes the instance\'s memory may grow to (default DEFAULT_MEMORY_LIMIT, at most MAX_MEMORY_LIMIT)' })),
    fuel: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Fuel each call gets (default DEFAULT_FUEL; absent and 0: unmetered)' })),
  },
  {
    additionalProperties: false,
    description: 'A module (`module`, `wat` or `module_id`), or a `snapshot` (with its module stored, or sent beside it); with a snapshot, wasi, init, memory_limit and fuel come from it',
  },
);
export type InstanceCreate = Static<typeof InstanceCreateSchema>;

export const InstanceSchema = Type.Object({
  instance_id: Type.String(),
  module_id: Type.String(),
  resident: Type.Boolean({ description: 'true while its memory is live on a lane; false once evicted to a snapshot (restored on its next job)' }),
  lane: Type.Integer({ description: 'The lane (thread) it is pinned to' }),
  memory_bytes: Type.Integer({ description: 'Bytes of linear memory' }),
  memory_limit: Type.Integer(),
  fuel: Type.Union([Type.Integer(), Type.Null()], { description: 'Fuel each call gets; null: unmetered' }),
  messages: Type.Integer({ description: 'Calls completed against it' }),
  queued: Type.Integer({ description: 'Its jobs waiting or running' }),
  checkpoint: Type.Object(
    { messages: Type.Integer(), hash: Type.String() },
    { description: 'Its last good state kept by the service: rebuilt from it (and the calls since) after a trap, a timeout, a cancel or an eviction' },
  ),
  wasi: Type.Object({ args: Type.Array(Type.String()), env: Type.Record(Type.String(), Type.String()), deterministic: Type.Boolean(), seed: Type.Union([Type.Integer(), Type.String()]) }),
  init: Type.Union([Type.String(), Type.Null()], { description: 'What ran at creation' }),
  init_result: Type.Optional(
    Type.Object(
      {
        exit_code: Type.Optional(Type.Integer()),
        stdout: Type.String(),
        stdout_base64: Type.Boolean(),
        stderr: Type.String(),
        stderr_base64: Type.Boolean(),
      },
      { description: 'In the answer to POST /instances: what init printed' },
    ),
  ),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.String({ format: 'date-time' }),
});
export type InstanceView = Static<typeof InstanceSchema>;

export const InstanceListSchema = Type.Object({
  instances: Type.Array(InstanceSchema, { description: 'Oldest first' }),
  live: Type.Integer({ description: 'Instances resident on a lane' }),
  live_bytes: Type.Integer({ description: 'Their memory' }),
});

export type InstanceList = Static<typeof InstanceListSchema>;

export const InstanceParamsSchema = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });
