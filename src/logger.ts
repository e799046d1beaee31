// The service's pino logger: JSON lines at the configured level, with credentials redacted wherever they appear.
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';
import type { Config } from './config.js';

const CENSOR = '[redacted]';

type Logged = Record<string, unknown>;

const isObject = (value: unknown): value is Logged => typeof value === 'object' && value !== null;

/**
 * `object` with credentials replaced by `[redacted]` where a request or the config puts them: `authorization`
 * and `apiTokens` at the top, `headers.authorization` at the top or one level down (req, request, any key),
 * `config.apiTokens`. Copies only what it changes; the caller's object is never touched. Written out
 * instead of pino's `redact` paths, which re-parses every path on every line (~7 KB of garbage and 3% of
 * the main thread per request under load, bench/RESULTS.md).
 */
export function redactCredentials(object: Logged): Logged {
  let out = object;
  const replace = (key: string, value: unknown): void => {
    if (out === object) out = { ...object };
    out[key] = value;
  };
  for (const key in object) {
    const value = object[key];
    if (key === 'authorization' || key === 'apiTokens') {
      replace(key, CENSOR);
      continue;
    }
    if (!isObject(value)) continue;
    let copy = value;
    if (key === 'headers' && 'authorization' in value) copy = { ...copy, authorization: CENSOR };
    if (key === 'config' && 'apiTokens' in value) copy = { ...copy, apiTokens: CENSOR };
    if (isObject(value.headers) && 'authorization' in value.headers) copy = { ...copy, headers: { ...value.headers, authorization: CENSOR } };
    if (copy !== value) replace(key, copy);
  }
  return out;
}

export function createLogger(config: Pick<Config, 'logLevel'>, destination?: DestinationStream): Logger {
  const options = { level: config.logLevel, formatters: { log: redactCredentials } };
  return destination ? pino(options, destination) : pino(options);
}
