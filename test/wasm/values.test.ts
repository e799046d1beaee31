import { describe, expect, it } from 'vitest';
import { fromWasmValue, ParameterError, toWasmValue } from '../../src/wasm/values.js';

describe('toWasmValue', () => {
  it('converts i64 exactly from decimal strings, across the whole range', () => {
    expect(toWasmValue('i64', '9007199254740993', 0)).toBe(9007199254740993n);
    expect(toWasmValue('i64', '-9223372036854775808', 0)).toBe(-(2n ** 63n));
    expect(toWasmValue('i64', '18446744073709551615', 0)).toBe(-1n);
    expect(toWasmValue('i64', 42, 0)).toBe(42n);
  });

  it('refuses i64 numbers JSON may have rounded, and values out of range', () => {
    expect(() => toWasmValue('i64', 2 ** 60, 0)).toThrow(ParameterError);
    expect(() => toWasmValue('i64', '18446744073709551616', 0)).toThrow(/out of the i64 range/);
    expect(() => toWasmValue('i64', 1.5, 0)).toThrow(ParameterError);
    expect(() => toWasmValue('i64', 'twelve', 1)).toThrow(/parameter 1/);
  });

  it('wraps unsigned i32 and refuses what does not fit', () => {
    expect(toWasmValue('i32', '4294967295', 0)).toBe(-1);
    expect(toWasmValue('i32', -2147483648, 0)).toBe(-2147483648);
    expect(() => toWasmValue('i32', '4294967296', 0)).toThrow(ParameterError);
  });

  it('converts floats, including NaN and infinities given as strings', () => {
    expect(toWasmValue('f64', '2.5', 0)).toBe(2.5);
    expect(toWasmValue('f64', 'NaN', 0)).toBeNaN();
    expect(toWasmValue('f64', '-Infinity', 0)).toBe(Number.NEGATIVE_INFINITY);
    expect(toWasmValue('f32', 0.1, 0)).toBe(Math.fround(0.1));
    expect(() => toWasmValue('f64', '1.2.3', 0)).toThrow(ParameterError);
  });
});

describe('fromWasmValue', () => {
  it('keeps safe integers as numbers and the rest as exact strings', () => {
    expect(fromWasmValue(5n)).toBe(5);
    expect(fromWasmValue(9007199254740993n)).toBe('9007199254740993');
    expect(fromWasmValue(-(2n ** 63n))).toBe('-9223372036854775808');
  });

  it('spells non-finite floats as strings', () => {
    expect(fromWasmValue(Number.NaN)).toBe('NaN');
    expect(fromWasmValue(Number.POSITIVE_INFINITY)).toBe('Infinity');
    expect(fromWasmValue(Number.NEGATIVE_INFINITY)).toBe('-Infinity');
    expect(fromWasmValue(1.25)).toBe(1.25);
  });
});
