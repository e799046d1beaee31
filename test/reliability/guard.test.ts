// The suite's guard itself: an unhandled rejection or an uncaught exception in the test process is recorded (and fails the test).
import { describe, expect, it } from 'vitest';
import { takeFaults } from './setup.js';

const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 10));

describe('the unhandled-fault guard', () => {
  it('records an unhandled rejection', async () => {
    void Promise.reject(new Error('nobody handles this'));
    await turn();
    expect(takeFaults()).toEqual([expect.stringContaining('unhandledRejection: Error: nobody handles this')]);
  });

  it('records an uncaught exception thrown from a timer', async () => {
    setTimeout(() => {
      throw new Error('thrown from a timer');
    }, 0);
    await turn();
    expect(takeFaults()).toEqual([expect.stringContaining('uncaughtException: Error: thrown from a timer')]);
  });

  it('records nothing when nothing goes wrong', async () => {
    await Promise.allSettled([Promise.reject(new Error('handled'))]);
    await turn();
    expect(takeFaults()).toEqual([]);
  });
});
