// RFC 9457 problem details, the body of every error the API answers.
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { ERRORS } from '../errors.js';
import type { ErrorCode } from '../errors.js';

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'urn:wasm64:error:<code>' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String({ description: 'What went wrong and what to do about it' }),
    code: Type.Unsafe<ErrorCode>(Type.String({ enum: Object.keys(ERRORS), description: 'Stable error code' })),
    instance: Type.Optional(Type.String()),
  },
  { description: 'An RFC 9457 problem document (application/problem+json)' },
);
export type ProblemBody = Static<typeof ProblemSchema>;
