// Property-based tests of the call parser: it throws nothing but CallSyntaxError, and formatCall round-trips what it accepts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CallSyntaxError, formatCall, MAX_CALL_LENGTH, parseCall } from '../../src/wasm/call.js';
import type { Call, CallArgument } from '../../src/wasm/call.js';
import { argumentToParameter, ParameterError, toWasmValue } from '../../src/wasm/values.js';

// Bounded so the suite stays fast; a failure prints its seed and shrunk counterexample to replay.
const RUNS = { numRuns: 2000 };

/** Parses, and says how it ended: the call, or the CallSyntaxError. Anything else escapes and fails the property. */
function attempt(text: string): Call | CallSyntaxError {
  try {
    return parseCall(text);
  } catch (err) {
    if (err instanceof CallSyntaxError) return err;
    throw err;
  }
}

function expectWellFormedFailure(text: string, err: CallSyntaxError): void {
  expect(Number.isInteger(err.position)).toBe(true);
  expect(err.position).toBeGreaterThanOrEqual(0);
  expect(err.position).toBeLessThanOrEqual(Math.max(text.length, MAX_CALL_LENGTH));
  expect(err.message.length).toBeGreaterThan(0);
}

function expectRoundTrip(call: Call): void {
  const again = parseCall(formatCall(call));
  expect(again).toEqual(call);
}

// Pieces a call is made of, so that random text often gets deep into the grammar instead of failing at position 0.
const TOKENS = [
  'add', 'f', '_x', '$', 'a.b', 'a-b', '(', ')', ',', ' ', '\t', '\n', '\u00a0', '\u2003', '\ufeff', '"', '\\', '\\"', '\\u00e9', '\\ud800',
  '0', '1', '-', '+', '.', 'e', 'E', 'x', '0x', 'ff', 'nan', 'NaN', 'inf', 'Infinity', '-inf', '9223372036854775808', '1e400',
  '😀', 'ä', '２', '\u0000', '\u202e', ';', '((', '))',
];
const tokenSoup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((parts) => parts.join(''));

const name = fc.stringMatching(/^[A-Za-z_$][A-Za-z0-9_$.-]{0,20}$/);
const numberText = fc.oneof(
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
  fc.bigInt({ min: 0n, max: 2n ** 64n }).map((n) => `0x${n.toString(16)}`),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => Number.isFinite(d)).map(String),
  fc.constantFrom('nan', 'NaN', 'inf', '-inf', '+inf', 'Infinity', '-Infinity', 'infinity', '.5', '5.', '1e-3', '+7'),
);
const argument: fc.Arbitrary<CallArgument> = fc.oneof(
  numberText.map((text) => ({ kind: 'number' as const, text })),
  fc.string({ unit: 'binary', maxLength: 30 }).map((value) => ({ kind: 'string' as const, value })),
);
const call: fc.Arbitrary<Call> = fc.record({ function: name, arguments: fc.array(argument, { maxLength: 8 }) });

describe('parseCall under fuzzing', () => {
  it('throws only CallSyntaxError on arbitrary unicode text, and round-trips what it accepts', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        const outcome = attempt(text);
        if (outcome instanceof CallSyntaxError) expectWellFormedFailure(text, outcome);
        else expectRoundTrip(outcome);
      }),
      RUNS,
    );
  });

  it('throws only CallSyntaxError on valid calls with tokens inserted and characters deleted, and round-trips what it accepts', () => {
    const edit = fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(...TOKENS), fc.constant(null)));
    const mutated = fc.tuple(call, fc.array(edit, { maxLength: 4 })).map(([c, edits]) =>
      edits.reduce((text, [at, token]) => {
        const i = text.length === 0 ? 0 : at % text.length;
        return token === null ? text.slice(0, i) + text.slice(i + 1) : text.slice(0, i) + token + text.slice(i);
      }, formatCall(c)),
    );
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(fc.oneof(mutated, tokenSoup), (text) => {
        const outcome = attempt(text);
        if (outcome instanceof CallSyntaxError) {
          refused++;
          return expectWellFormedFailure(text, outcome);
        }
        accepted++;
        expectRoundTrip(outcome);
      }),
      RUNS,
    );
    // Both halves of the property must have been exercised, or one of them tested nothing.
    expect(accepted).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  });

  it('parses back exactly any call that formatCall writes', () => {
    fc.assert(fc.property(call, (c) => expectRoundTrip(c)), RUNS);
  });

  it('keeps accepting a valid call inside any amount of whitespace, and refuses it with anything after', () => {
    const space = fc.array(fc.constantFrom(' ', '\t', '\n', '\r', '\u00a0', '\u2003', '\ufeff'), { maxLength: 10 }).map((s) => s.join(''));
    const junk = fc.string({ minLength: 1, maxLength: 10 }).filter((s) => s.trim().length > 0);
    fc.assert(
      fc.property(call, space, space, junk, (c, before, after, tail) => {
        expect(parseCall(`${before}${formatCall(c)}${after}`)).toEqual(c);
        const outcome = attempt(`${formatCall(c)}${after}${tail}`);
        expect(outcome).toBeInstanceOf(CallSyntaxError);
      }),
      RUNS,
    );
  });

  it('ends every accepted argument, for every wasm type, in a value or a ParameterError, never another error', () => {
    const types = fc.constantFrom('i32', 'i64', 'f32', 'f64', 'v128', 'funcref');
    fc.assert(
      fc.property(tokenSoup, types, (text, type) => {
        const outcome = attempt(`f(${text})`);
        if (outcome instanceof CallSyntaxError) return;
        outcome.arguments.forEach((arg, i) => {
          try {
            const value = toWasmValue(type, argumentToParameter(arg), i);
            expect(['number', 'bigint']).toContain(typeof value);
          } catch (err) {
            expect(err).toBeInstanceOf(ParameterError);
          }
        });
      }),
      RUNS,
    );
  });

  it('refuses anything longer than MAX_CALL_LENGTH at once', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), (extra) => {
        const outcome = attempt(`f(${' '.repeat(MAX_CALL_LENGTH + extra)})`);
        expect(outcome).toBeInstanceOf(CallSyntaxError);
      }),
      { numRuns: 20 },
    );
  });
});
