// Converts between JSON parameters/results and wasm values without ever rounding an integer.
import type { CallArgument } from './call.js';
import type { ValueType } from './module-info.js';

export type WasmValue = number | bigint;
/** A parameter as a client sends it: a JSON number, or a string holding a number (exact for i64). */
export type ParameterInput = number | string;
/** A result as the API returns it: a number when JSON can carry it exactly, else a string. */
export type ResultValue = number | string;

/** Thrown when a parameter does not fit the type the function declares. */
export class ParameterError extends Error {
  override readonly name = 'ParameterError';
  constructor(message: string, readonly index: number) {
    super(message);
  }
}

const I64_MIN = -(2n ** 63n);
const U64_MAX = 2n ** 64n - 1n;
const I32_MIN = -(2n ** 31n);
const U32_MAX = 2n ** 32n - 1n;
const INTEGER = /^[+-]?(?:\d+|0[xX][0-9a-fA-F]+)$/;
const FLOAT = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0[xX][0-9a-fA-F]+)$/;

function parseInteger(text: string, index: number, type: 'i32' | 'i64'): bigint {
  const trimmed = text.trim();
  if (!INTEGER.test(trimmed)) {
    throw new ParameterError(`parameter ${index} must be an integer for ${type}, got ${JSON.stringify(text)}`, index);
  }
  const negative = trimmed.startsWith('-');
  const digits = trimmed.replace(/^[+-]/, '');
  const magnitude = BigInt(digits);
  return negative ? -magnitude : magnitude;
}

function toInteger(input: ParameterInput, index: number, type: 'i32' | 'i64'): bigint {
  if (typeof input === 'number') {
    if (!Number.isInteger(input)) throw new ParameterError(`parameter ${index} must be an integer for ${type}, got ${input}`, index);
    if (!Number.isSafeInteger(input)) {
      throw new ParameterError(
        `parameter ${index} is beyond 2^53 and may have been rounded by JSON; send it as a decimal string`,
        index,
      );
    }
    return BigInt(input);
  }
  return parseInteger(input, index, type);
}

function toFloat(input: ParameterInput, index: number, type: 'f32' | 'f64'): number {
  if (typeof input === 'number') return input;
  const t = input.trim();
  const lower = t.toLowerCase();
  if (lower === 'nan' || lower === '+nan' || lower === '-nan') return Number.NaN;
  if (['inf', '+inf', 'infinity', '+infinity'].includes(lower)) return Number.POSITIVE_INFINITY;
  if (lower === '-inf' || lower === '-infinity') return Number.NEGATIVE_INFINITY;
  if (!FLOAT.test(t)) throw new ParameterError(`parameter ${index} must be a number for ${type}, got ${JSON.stringify(input)}`, index);
  return /^[+-]?0[xX]/.test(t) ? Number(parseInteger(t, index, 'i64')) : Number(t);
}

/** Converts one parameter to the wasm value of `type`. i32 and i64 accept signed or unsigned ranges. */
export function toWasmValue(type: ValueType, input: ParameterInput, index: number): WasmValue {
  switch (type) {
    case 'i32': {
      const v = toInteger(input, index, 'i32');
      if (v < I32_MIN || v > U32_MAX) throw new ParameterError(`parameter ${index} is out of the i32 range`, index);
      return Number(BigInt.asIntN(32, v));
    }
    case 'i64': {
      const v = toInteger(input, index, 'i64');
      if (v < I64_MIN || v > U64_MAX) throw new ParameterError(`parameter ${index} is out of the i64 range`, index);
      return BigInt.asIntN(64, v);
    }
    case 'f32':
      return Math.fround(toFloat(input, index, 'f32'));
    case 'f64':
      return toFloat(input, index, 'f64');
    default:
      throw new ParameterError(`parameter ${index} has type ${type}, which a job cannot pass`, index);
  }
}

/** The parameter a call-expression literal stands for. */
export function argumentToParameter(arg: CallArgument): ParameterInput {
  return arg.kind === 'number' ? arg.text : arg.value;
}

/** Converts a wasm result to JSON: exact numbers, decimal strings beyond 2^53, "NaN"/"Infinity"/"-Infinity". */
export function fromWasmValue(value: unknown): ResultValue {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  }
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  return String(value);
}

/** The JSON form of a parameter as the job echoes it back: the same rules as results. */
export function normalizeParameter(value: WasmValue): ResultValue {
  return fromWasmValue(value);
}
