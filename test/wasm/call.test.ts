import { describe, expect, it } from 'vitest';
import { CallSyntaxError, formatCall, parseCall } from '../../src/wasm/call.js';

describe('parseCall', () => {
  it('parses a plain call', () => {
    expect(parseCall('add(2,3)')).toEqual({
      function: 'add',
      arguments: [{ kind: 'number', text: '2' }, { kind: 'number', text: '3' }],
    });
  });

  it('accepts spaces, negatives, floats, hex, nan and inf', () => {
    const call = parseCall('  f ( -2 , 3.5e-1, 0x1F, nan, -inf, .5 )  ');
    expect(call.function).toBe('f');
    expect(call.arguments.map((a) => (a.kind === 'number' ? a.text : a.value))).toEqual(['-2', '3.5e-1', '0x1F', 'nan', '-inf', '.5']);
  });

  it('reads every spelling of infinity whole (inf must not cut infinity short)', () => {
    const call = parseCall('f(Infinity, -infinity, inf, +Infinity)');
    expect(call.arguments.map((a) => (a.kind === 'number' ? a.text : a.value))).toEqual(['Infinity', '-infinity', 'inf', '+Infinity']);
  });

  it('keeps integers beyond 2^53 exactly as written', () => {
    expect(parseCall('add(9007199254740993,1)').arguments[0]).toEqual({ kind: 'number', text: '9007199254740993' });
  });

  it('parses no arguments and string arguments', () => {
    expect(parseCall('now()').arguments).toEqual([]);
    expect(parseCall('greet("a \\"b\\" ✓")').arguments).toEqual([{ kind: 'string', value: 'a "b" ✓' }]);
  });

  it.each([
    ['', 0],
    ['(1)', 0],
    ['add', 3],
    ['add(2,3', 7],
    ['add(2,,3)', 6],
    ['add(2,3);x', 8],
    ['add(2 3)', 6],
    ['add(2x)', 4],
    ['add("open)', 4],
    ['1add(2)', 0],
    ['add(((2)))', 4],
  ])('rejects %j at position %i', (code, position) => {
    try {
      parseCall(code);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(CallSyntaxError);
      expect((err as CallSyntaxError).position).toBe(position);
    }
  });

  it('rejects expressions over the length limit', () => {
    expect(() => parseCall(`f(${'1,'.repeat(10_000)}1)`)).toThrow(CallSyntaxError);
  });

  it('round-trips through formatCall', () => {
    const call = parseCall('mix( -1,2.5 ,"x")');
    expect(parseCall(formatCall(call))).toEqual(call);
  });
});
