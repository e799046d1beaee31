import { describe, expect, it } from 'vitest';
import { parsePrefer } from '../../src/routes/prefer.js';

describe('parsePrefer (RFC 7240)', () => {
  it.each([
    [undefined, { respondAsync: false }],
    ['wait=10', { wait: 10, respondAsync: false }],
    ['wait=0', { wait: 0, respondAsync: false }],
    ['wait=1234567890', { respondAsync: false }],
    ['wait=10 ', { wait: 10, respondAsync: false }],
    ['WAIT=4', { wait: 4, respondAsync: false }],
    ['respond-async, wait=5', { wait: 5, respondAsync: true }],
    ['Respond-Async,WAIT = "7"', { wait: 7, respondAsync: true }],
    ['wait=3; foo=bar, handling=strict', { wait: 3, respondAsync: false }],
    ['wait=1, wait=9', { wait: 1, respondAsync: false }],
    ['wait=-1', { respondAsync: false }],
    ['wait=2.5', { respondAsync: false }],
    ['wait', { respondAsync: false }],
    ['return=minimal', { respondAsync: false }],
  ])('reads %j as %j', (header, expected) => {
    expect(parsePrefer(header)).toEqual(expected);
  });
});
