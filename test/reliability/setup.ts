// Setup for test/reliability: any unhandled rejection or uncaught exception in the test process fails the test it happened in.
import { afterAll, afterEach, expect } from 'vitest';

const faults: string[] = [];
const record = (kind: string) => (err: unknown): void => {
  faults.push(`${kind}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
};
process.on('unhandledRejection', record('unhandledRejection'));
process.on('uncaughtException', record('uncaughtException'));

/** Takes the faults recorded so far (the guard's own test uses it to see that it records them). */
export function takeFaults(): string[] {
  return faults.splice(0);
}

function expectNoFaults(): void {
  const seen = takeFaults();
  expect(seen, 'the process saw an unhandled rejection or an uncaught exception').toEqual([]);
}

afterEach(async () => {
  // A rejection nobody handles is reported after the microtasks of the turn that dropped it: let one pass.
  await new Promise((resolve) => setImmediate(resolve));
  expectNoFaults();
});
afterAll(expectNoFaults);
