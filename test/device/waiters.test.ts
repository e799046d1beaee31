import { describe, expect, it } from 'vitest';
import { WaitersByJob } from '../../src/device/waiters.js';

describe('WaitersByJob', () => {
  it('keeps each job\'s waits apart and counts them all', () => {
    const waiters = new WaitersByJob<string>();
    waiters.add('job-1', 'a');
    waiters.add('job-1', 'b');
    waiters.add('job-2', 'c');
    waiters.add('job-1', 'a'); // already there: counted once
    expect(waiters.size).toBe(3);
    expect([...(waiters.of('job-1') ?? [])]).toEqual(['a', 'b']);
    expect(waiters.jobIds()).toEqual(['job-1', 'job-2']);
    expect(waiters.all()).toEqual(['a', 'b', 'c']);
  });

  it('drops a job with its last wait, so ended waits leave nothing behind', () => {
    const waiters = new WaitersByJob<string>();
    waiters.add('job-1', 'a');
    waiters.add('job-1', 'b');
    expect(waiters.delete('job-1', 'a')).toBe(true);
    expect(waiters.has('job-1')).toBe(true);
    expect(waiters.delete('job-1', 'b')).toBe(true);
    expect(waiters.has('job-1')).toBe(false);
    expect(waiters.of('job-1')).toBeUndefined();
    expect(waiters.size).toBe(0);
    expect(waiters.delete('job-1', 'b')).toBe(false);
    expect(waiters.delete('job-9', 'a')).toBe(false);
    expect(waiters.size).toBe(0);
  });

  it('lets each wait of a job end itself while the job\'s waits are being visited', () => {
    const waiters = new WaitersByJob<string>();
    for (const w of ['a', 'b', 'c']) waiters.add('job-1', w);
    const ended: string[] = [];
    for (const w of waiters.of('job-1') ?? []) {
      waiters.delete('job-1', w);
      ended.push(w);
    }
    expect(ended).toEqual(['a', 'b', 'c']);
    expect(waiters.size).toBe(0);
    expect(waiters.has('job-1')).toBe(false);
  });
});
