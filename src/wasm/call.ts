// Parses call expressions such as `add(2, -3)` into a function name and literal arguments.

/** A literal argument exactly as written; it gets a wasm type only once the function's signature is known. */
export type CallArgument = { kind: 'number'; text: string } | { kind: 'string'; value: string };

export interface Call {
  function: string;
  arguments: CallArgument[];
}

export const MAX_CALL_LENGTH = 16_384;

/** The only error the parser throws; `position` is a 0-based character offset into the expression. */
export class CallSyntaxError extends Error {
  override readonly name = 'CallSyntaxError';
  constructor(message: string, readonly position: number) {
    super(message);
  }
}

const NAME_START = /[A-Za-z_$]/;
const NAME_PART = /[A-Za-z0-9_$.-]/;
// Longer words first: the first alternative that matches wins, and `inf` would cut `infinity` short.
const NUMBER = /^[+-]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|Infinity|infinity|inf|nan|NaN)/;

/** Parses `name(arg, ...)`: arguments are decimal, hex or float numbers, nan, inf, or "JSON strings". */
export function parseCall(code: string): Call {
  if (code.length > MAX_CALL_LENGTH) {
    throw new CallSyntaxError(`call expression is longer than ${MAX_CALL_LENGTH} characters`, MAX_CALL_LENGTH);
  }
  let pos = 0;
  const skipSpace = (): void => {
    while (pos < code.length && /\s/.test(code[pos] ?? '')) pos++;
  };
  const describe = (at: number): string => (at >= code.length ? 'end of input' : JSON.stringify(code[at]));

  skipSpace();
  const nameStart = pos;
  if (!NAME_START.test(code[pos] ?? '')) {
    throw new CallSyntaxError(`expected a function name at position ${pos}, found ${describe(pos)}`, pos);
  }
  while (pos < code.length && NAME_PART.test(code[pos] ?? '')) pos++;
  const name = code.slice(nameStart, pos);
  skipSpace();
  if (code[pos] !== '(') throw new CallSyntaxError(`expected "(" after "${name}" at position ${pos}, found ${describe(pos)}`, pos);
  pos++;
  skipSpace();

  const args: CallArgument[] = [];
  if (code[pos] === ')') {
    pos++;
  } else {
    for (;;) {
      skipSpace();
      args.push(readArgument());
      skipSpace();
      const c = code[pos];
      if (c === ',') { pos++; continue; }
      if (c === ')') { pos++; break; }
      throw new CallSyntaxError(`expected "," or ")" at position ${pos}, found ${describe(pos)}`, pos);
    }
  }
  skipSpace();
  if (pos < code.length) throw new CallSyntaxError(`unexpected ${describe(pos)} at position ${pos} after the call`, pos);
  return { function: name, arguments: args };

  function readArgument(): CallArgument {
    if (code[pos] === '"') return readString();
    const match = NUMBER.exec(code.slice(pos, pos + 1024));
    const next = match ? code[pos + match[0].length] : undefined;
    if (!match || (next !== undefined && /[A-Za-z0-9_.]/.test(next))) {
      throw new CallSyntaxError(`expected a number or a "string" at position ${pos}, found ${describe(pos)}`, pos);
    }
    pos += match[0].length;
    return { kind: 'number', text: match[0] };
  }

  function readString(): CallArgument {
    const start = pos;
    pos++;
    while (pos < code.length && code[pos] !== '"') pos += code[pos] === '\\' ? 2 : 1;
    if (pos >= code.length) throw new CallSyntaxError(`unterminated string starting at position ${start}`, start);
    pos++;
    try {
      return { kind: 'string', value: JSON.parse(code.slice(start, pos)) as string };
    } catch {
      throw new CallSyntaxError(`invalid escape in the string starting at position ${start}`, start);
    }
  }
}

/** Formats a call back to the expression syntax `parseCall` accepts. */
export function formatCall(call: Call): string {
  const args = call.arguments.map((a) => (a.kind === 'number' ? a.text : JSON.stringify(a.value)));
  return `${call.function}(${args.join(', ')})`;
}
