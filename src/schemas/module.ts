// The module resource: what POST /modules accepts and what it and GET /modules/:id return.
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { ModuleIdSchema } from './job.js';

export const ModuleUploadSchema = Type.Object(
  {
    module: Type.Optional(Type.String({ minLength: 1, contentEncoding: 'base64', description: 'A wasm binary (wasm32 or memory64), base64' })),
    wat: Type.Optional(Type.String({ minLength: 1, description: 'WebAssembly text' })),
  },
  { additionalProperties: false, description: 'One of `module` or `wat`; or send the binary itself as application/wasm' },
);
export type ModuleUpload = Static<typeof ModuleUploadSchema>;

const ValueTypeSchema = Type.String({ description: 'i32, i64, f32, f64 (v128, funcref, externref cannot be passed by a job)' });

export const ModuleSchema = Type.Object({
  module_id: Type.String({ description: 'sha256:<hex> of the bytes: send it as module_id in a run' }),
  size: Type.Integer({ description: 'Bytes of wasm' }),
  exports: Type.Array(
    Type.Object({ name: Type.String(), params: Type.Array(ValueTypeSchema), results: Type.Array(ValueTypeSchema) }),
    { description: 'The exported functions and their signatures' },
  ),
  memory: Type.Union([
    Type.Object({
      index: Type.Union([Type.Literal('i32'), Type.Literal('i64')], { description: 'i32 for wasm32, i64 for memory64' }),
      min: Type.Integer({ description: 'Initial size in 64 KiB pages' }),
      max: Type.Union([Type.Integer(), Type.Null()], { description: 'Declared maximum in pages, or null' }),
    }),
    Type.Null(),
  ], { description: 'The first memory the module defines or imports, or null' }),
  imports: Type.Array(Type.Object({ module: Type.String(), name: Type.String(), kind: Type.String() })),
  cache: Type.Object(
    {
      compiles: Type.Integer({ description: 'Times the engine compiled this module or a variant of it (instrumented for a memory limit or fuel)' }),
      hits: Type.Integer({ description: 'Jobs that ran already compiled code' }),
      misses: Type.Integer({ description: 'Jobs whose submission had to compile' }),
    },
    { description: 'Compile-once evidence: a second job with the same limits is a hit and compiles nothing' },
  ),
});
export type ModuleView = Static<typeof ModuleSchema>;

export const ModuleParamsSchema = Type.Object({ id: ModuleIdSchema });
