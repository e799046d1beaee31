import { describe, expect, it } from 'vitest';
import { fingerprintRequest } from '../../src/device/fingerprint.js';

describe('fingerprintRequest', () => {
  it('is the same for the same request in any key order and differs for any other request', () => {
    const a = fingerprintRequest({ function: 'add', parameters: [2, 3], timeout_ms: 10 });
    expect(fingerprintRequest({ timeout_ms: 10, parameters: [2, 3], function: 'add' })).toBe(a);
    expect(fingerprintRequest({ function: 'add', parameters: [3, 2], timeout_ms: 10 })).not.toBe(a);
    expect(fingerprintRequest({ function: 'add', parameters: [2, 3] })).not.toBe(a);
    expect(fingerprintRequest({ function: 'add', parameters: ['2', 3], timeout_ms: 10 })).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });
});
