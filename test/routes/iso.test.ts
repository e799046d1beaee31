// The job view's timestamps: the cached formatter writes exactly what Date#toISOString writes.
import { describe, expect, it } from 'vitest';
import { iso } from '../../src/schemas/job-view.js';

describe('iso', () => {
  it('matches Date#toISOString across seconds, days, years and sub-millisecond times', () => {
    const base = Date.parse('2026-12-31T23:59:59.990Z');
    const times = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, 86_400_000 - 1, base, base + 9, base + 10, base + 11, base + 1234.75, -1, -1001];
    for (let i = 0; i < 2000; i++) times.push(Math.floor(Math.random() * 4_000_000_000_000));
    for (const t of [...times, ...times.reverse()]) expect(iso(t)).toBe(new Date(Math.floor(t)).toISOString());
  });

  it('falls back to Date#toISOString for years it cannot cache', () => {
    const far = Date.parse('+012345-01-01T00:00:00.000Z') + 5;
    expect(iso(far)).toBe(new Date(far).toISOString());
    expect(iso(far + 1)).toBe(new Date(far + 1).toISOString());
  });
});
