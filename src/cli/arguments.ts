// Parsers for option values: each turns what the user typed into what the API takes, or refuses it as a usage error.
import { InvalidArgumentError } from 'commander';

export function parseServer(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('Give an absolute URL such as http://127.0.0.1:8080');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('The URL must start with http:// or https://');
  return url.href.replace(/\/+$/, '');
}

export function parsePort(value: string): string {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('Give a port from 0 to 65535 (0 picks a free one).');
  return value;
}

/** `500ms`, `5s`, `2m` to milliseconds; a bare number is refused, since seconds and milliseconds both look plausible. */
export function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(value.trim());
  if (match?.[1] === undefined) throw new InvalidArgumentError('Give a duration with its unit: 500ms, 5s or 2m.');
  const ms = Math.round(Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm']);
  if (ms < 1) throw new InvalidArgumentError('The duration must be at least 1ms.');
  return ms;
}

/** A positive whole number (a page size, units of fuel). */
export function parseLimit(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('Give a positive whole number.');
  return Number(value);
}

/** `NAME=value` (the value may hold `=` and be empty), collected in order. */
export function collectEnv(value: string, previous: [string, string][] | undefined): [string, string][] {
  const at = value.indexOf('=');
  if (at < 1) throw new InvalidArgumentError('Give NAME=value (the name may not be empty).');
  return [...(previous ?? []), [value.slice(0, at), value.slice(at + 1)]];
}

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** A safe integer goes as a JSON number; anything else (big i64, floats, nan) as a string the service parses exactly. */
export function toParameter(text: string): number | string {
  return /^-?\d+$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : text;
}

/** `65536`, `64KiB`, `16MiB`, `1GiB` to bytes. */
export function parseSize(value: string): number {
  const match = /^(\d+)(B|KiB|MiB|GiB)?$/.exec(value.trim());
  if (match?.[1] === undefined) throw new InvalidArgumentError('Give a size in bytes, or with KiB, MiB or GiB: 16MiB.');
  return Number(match[1]) * { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[(match[2] ?? 'B') as 'B' | 'KiB' | 'MiB' | 'GiB'];
}
