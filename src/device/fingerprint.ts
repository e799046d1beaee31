// A digest of a run request, so an Idempotency-Key can tell a repeated request from a different one.
import { createHash } from 'node:crypto';

/** JSON with object keys sorted, so the same request sent with its keys in another order digests the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** sha256 of the request's canonical JSON, hex. */
export function fingerprintRequest(request: unknown): string {
  return createHash('sha256').update(canonicalJson(request)).digest('hex');
}
