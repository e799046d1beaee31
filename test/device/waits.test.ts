// Waits on the real device and pool: how a wait listens for its client going away (`cancelOn`), and
// that it lets go of the listener, and of the request behind it, however it ends.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Wasm64Device } from '../../src/device/device.js';
import type { StoredModule } from '../../src/device/module-store.js';
import { loadFixture } from '../support/fixtures.js';
import { buildTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

let fixture: StoredModule;
const open: TestApp[] = [];
beforeAll(async () => {
  fixture = await loadFixture('lifecycle');
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

/** The device of a test app on the lifecycle fixture (spin, add), one thread. */
async function start(): Promise<Wasm64Device> {
  const t = await buildTestApp({ poolThreads: 1 }, { module: fixture });
  open.push(t);
  return t.device;
}

/** A `cancelOn` that records the wait's end and how often it was told to stop listening. */
function listener(): { cancelOn: (end: () => void) => () => void; end: () => void; stop: ReturnType<typeof vi.fn> } {
  const stop = vi.fn();
  let ended: () => void = () => undefined;
  const cancelOn = (end: () => void): (() => void) => {
    ended = end;
    return stop;
  };
  return { cancelOn, end: () => ended(), stop };
}

describe('waits', () => {
  it('stops listening for the client once, when the job settles', async () => {
    const device = await start();
    const { job } = await device.submit({ code: 'add(2,3)' });
    const l = listener();
    const settled = await device.waitFor(job, 30_000, l.cancelOn);
    expect(settled).toMatchObject({ status: 'completed', results: [5] });
    expect(l.stop).toHaveBeenCalledTimes(1);
    l.end(); // the client going away afterwards changes nothing
    expect(l.stop).toHaveBeenCalledTimes(1);
    expect(device.waiting).toBe(0);
  });

  it('ends the wait with the job as it is when the client goes away, and stops listening', async () => {
    const device = await start();
    const { job } = await device.submit({ code: 'spin()' });
    const l = listener();
    const waiting = device.waitFor(job, 30_000, l.cancelOn);
    expect(device.waiting).toBe(1);
    l.end();
    expect(['queued', 'running']).toContain((await waiting).status);
    expect(l.stop).toHaveBeenCalledTimes(1);
    expect(device.waiting).toBe(0);
    device.cancel(job.id);
  });

  it('stops a listener at once when the client was already gone as it started listening', async () => {
    const device = await start();
    const { job } = await device.submit({ code: 'spin()' });
    const stop = vi.fn();
    const settled = await device.waitFor(job, 30_000, (end) => {
      end();
      return stop;
    });
    expect(['queued', 'running']).toContain(settled.status);
    expect(stop).toHaveBeenCalledTimes(1);
    expect(device.waiting).toBe(0);
    device.cancel(job.id);
  });

  it('stops listening when the wait reaches its deadline', async () => {
    const device = await start();
    const { job } = await device.submit({ code: 'spin()' });
    const l = listener();
    expect(['queued', 'running']).toContain((await device.waitFor(job, 30, l.cancelOn)).status);
    expect(l.stop).toHaveBeenCalledTimes(1);
    expect(device.waiting).toBe(0);
    device.cancel(job.id);
  });

  it('stops listening when every wait is ended (the app closing)', async () => {
    const device = await start();
    const { job } = await device.submit({ code: 'spin()' });
    const [a, b] = [listener(), listener()];
    const waits = [device.waitFor(job, 30_000, a.cancelOn), device.waitFor(job, 30_000, b.cancelOn)];
    expect(device.waiting).toBe(2);
    device.endWaits();
    for (const settled of await Promise.all(waits)) expect(['queued', 'running']).toContain(settled.status);
    expect([a.stop.mock.calls.length, b.stop.mock.calls.length]).toEqual([1, 1]);
    expect(device.waiting).toBe(0);
    device.cancel(job.id);
  });
});
