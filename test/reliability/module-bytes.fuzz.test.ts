// Property-based tests of module bytes: random mutations of a valid module give a 4xx with a module code, or a job that ends.
import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileWat } from '../../src/wasm/wat.js';
import { buildTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

// What a mutated module may be refused with; anything else (a 5xx above all) fails the property.
const REFUSALS = new Set([
  'WASM64_INVALID_MODULE',
  'WASM64_UNKNOWN_FUNCTION',
  'WASM64_UNRESOLVED_IMPORT',
  'WASM64_PARAMETER_COUNT',
  'WASM64_PARAMETER_TYPE',
  'WASM64_UNSUPPORTED_SIGNATURE',
  'WASM64_UNSUPPORTED_INSTRUCTION',
  'WASM64_MEMORY_TOO_LARGE',
  'WASM64_MODULE_TOO_LARGE',
  // Deletions can leave no bytes at all (seed -2135554835: truncate to one byte, then delete it).
  'WASM64_EMPTY_BODY',
]);
// How a job built from a mutated module may end: never WASM64_INTERNAL or WASM64_WORKER_FAILED.
const JOB_FAILURES = new Set(['WASM64_TRAP', 'WASM64_TIMEOUT', 'WASM64_FUEL_EXHAUSTED', 'WASM64_MEMORY_LIMIT', 'WASM64_STACK_OVERFLOW']);

let t: TestApp;
let base: Uint8Array;
beforeAll(async () => {
  t = await buildTestApp({ jobTimeoutMs: 2000 });
  base = await compileWat(await readFile(new URL('../fixtures/hostile/fuzz-base.wat', import.meta.url), 'utf8'), 'fuzz-base.wat');
});
afterAll(async () => t.close());

type Mutation = { kind: 'set'; at: number; byte: number } | { kind: 'insert'; at: number; byte: number } | { kind: 'delete'; at: number } | { kind: 'truncate'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 15 })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
);

function mutate(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = [...bytes];
  for (const m of mutations) {
    // Mostly in the second half, where the code and data sections are: such mutations more often stay valid and run.
    const at = out.length === 0 ? 0 : m.at % 2 === 0 ? m.at % out.length : Math.floor(out.length / 2) + (m.at % Math.ceil(out.length / 2));
    if (m.kind === 'set') out[at] = m.byte;
    else if (m.kind === 'insert') out.splice(at, 0, m.byte);
    else if (m.kind === 'delete') out.splice(at, 1);
    else out = out.slice(0, Math.max(1, at));
  }
  return Uint8Array.from(out);
}

describe('mutated modules', () => {
  it('are refused with a module code or run to a terminal job, never a 5xx, an internal error or a hang', async () => {
    const outcomes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 64 }), async (mutations, n) => {
        const bytes = mutate(base, mutations);
        const res = await t.app.inject({
          method: 'POST',
          url: `/~wasm64@1.0/run?code=f(${n})&fuel=1000000&memory_limit=1048576`,
          headers: { 'content-type': 'application/wasm', prefer: 'wait=10' },
          payload: Buffer.from(bytes),
        });
        const body = res.json<Record<string, any>>();
        if (res.statusCode >= 400) {
          expect(res.statusCode).toBeLessThan(500);
          expect(REFUSALS, `refused with ${String(body.code)}: ${String(body.detail)}`).toContain(body.code);
          outcomes.set(body.code as string, (outcomes.get(body.code as string) ?? 0) + 1);
          return;
        }
        expect(res.statusCode, 'a job of at most 1,000,000 fuel ends within the wait').toBe(200);
        if (body.status === 'failed') expect(JOB_FAILURES, `failed with ${String(body.error?.code)}: ${String(body.error?.message)}`).toContain(body.error?.code);
        else expect(body.status).toBe('completed');
        const outcome = body.status === 'failed' ? (body.error.code as string) : 'completed';
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }),
      { numRuns: 150 },
    );
    console.log(`mutated modules: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    // The mutations reached past validation too, or the job half of the property tested nothing.
    expect([...outcomes.keys()].some((k) => k === 'completed' || JOB_FAILURES.has(k))).toBe(true);
    const res = await t.app.inject({ method: 'POST', url: '/~wasm64@1.0/run', headers: { prefer: 'wait=10' }, payload: { code: 'add(2,3)' } });
    expect(res.json()).toMatchObject({ status: 'completed', result: 5 });
  }, 300_000);
});
