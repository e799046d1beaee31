import { describe, expect, it } from 'vitest';
import { MemoryJobStore } from '../../src/device/job-store.js';
import type { Job, JobStatus } from '../../src/device/job.js';

let seq = 0;
function job(status: JobStatus, fields: Partial<Job> = {}): Job {
  seq++;
  return { id: `job-${seq}`, seq, status, moduleId: 'sha256:x', function: 'add', parameters: [], timeoutMs: 1000, createdAt: 0, ...fields };
}

/** A store on a clock the test moves. */
function storeAt(options: { ttlMs?: number; maxJobs?: number } = {}): { store: MemoryJobStore; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  const store = new MemoryJobStore({ ttlMs: options.ttlMs ?? 60_000, maxJobs: options.maxJobs ?? 100, now: () => clock.now });
  return { store, clock };
}

/** Marks `j` finished at the store's current time, as the device does. */
function finish(store: MemoryJobStore, clock: { now: number }, j: Job, status: JobStatus = 'completed'): void {
  j.status = status;
  j.finishedAt = clock.now;
  store.settled(j);
}

describe('MemoryJobStore TTL', () => {
  it('expires a finished job once the TTL has passed, and never a live one', () => {
    const { store, clock } = storeAt({ ttlMs: 60_000 });
    const done = job('queued');
    const live = job('running');
    store.add(done);
    store.add(live);
    finish(store, clock, done);
    clock.now += 59_999;
    expect(store.get(done.id)).toBe(done);
    clock.now += 1;
    expect(store.get(done.id)).toBeUndefined();
    expect(store.size).toBe(1);
    clock.now += 10 * 60_000;
    store.evictExpired();
    expect(store.get(live.id)).toBe(live);
  });

  it('expires from the sweep, oldest finished first, without a read', () => {
    const { store, clock } = storeAt({ ttlMs: 1000 });
    const jobs = [job('queued'), job('queued'), job('queued')];
    for (const j of jobs) store.add(j);
    finish(store, clock, jobs[1]!);
    clock.now += 500;
    finish(store, clock, jobs[0]!);
    clock.now += 500;
    store.evictExpired();
    expect(store.size).toBe(2);
    expect(store.get(jobs[1]!.id)).toBeUndefined();
    expect(store.get(jobs[0]!.id)).toBe(jobs[0]);
    clock.now += 500;
    store.evictExpired();
    expect(store.size).toBe(1);
    expect(store.get(jobs[2]!.id)).toBe(jobs[2]);
  });
});

describe('MemoryJobStore bound', () => {
  it('makes room by evicting the oldest finished job and never a queued or running one', () => {
    const { store, clock } = storeAt({ maxJobs: 4 });
    const a = job('queued');
    const b = job('queued');
    const c = job('running');
    const d = job('queued');
    for (const j of [a, b, c, d]) store.add(j);
    finish(store, clock, d, 'failed');
    finish(store, clock, b, 'cancelled');
    expect(store.reserve()).toBe(true);
    // d finished first, so it goes first, even though b is older.
    expect(store.get(d.id)).toBeUndefined();
    store.add(job('queued'));
    expect(store.reserve()).toBe(true);
    expect(store.get(b.id)).toBeUndefined();
    store.add(job('running'));
    expect(store.size).toBe(4);
    // Now every job is live: nothing may be evicted, so there is no room.
    expect(store.reserve()).toBe(false);
    expect(store.size).toBe(4);
    expect([a, c].every((j) => store.get(j.id) === j)).toBe(true);
  });

  it('stays within its bound over many jobs and keeps the array of holes compacted', () => {
    const { store, clock } = storeAt({ maxJobs: 10 });
    for (let i = 0; i < 1000; i++) {
      expect(store.reserve()).toBe(true);
      const j = job('queued');
      store.add(j);
      finish(store, clock, j);
    }
    expect(store.size).toBe(10);
    expect(store.list({ limit: 100 }).jobs.map((j) => j.seq)).toEqual(
      Array.from({ length: 10 }, (_, i) => seq - i),
    );
  });
});

describe('MemoryJobStore against a model', () => {
  it('keeps, expires and evicts the same jobs as a plain list would, over thousands of mixed operations', () => {
    // A small deterministic generator: the run is the same every time.
    let state = 42;
    const random = (n: number): number => {
      state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
      return state % n;
    };
    const ttlMs = 5_000;
    const maxJobs = 50;
    const { store, clock } = storeAt({ ttlMs, maxJobs });
    // The model: stored jobs in a list, and the order they finished in.
    let stored: Job[] = [];
    let finishedOrder: Job[] = [];
    const expired = (j: Job): boolean => j.finishedAt !== undefined && clock.now - j.finishedAt >= ttlMs;
    const drop = (j: Job): void => {
      stored = stored.filter((s) => s !== j);
      finishedOrder = finishedOrder.filter((s) => s !== j);
    };
    for (let step = 0; step < 20_000; step++) {
      const op = random(10);
      if (op < 4) {
        // Submit: make room (expired first, then the oldest finished), then add.
        let room = stored.length < maxJobs;
        if (!room) {
          for (const j of [...finishedOrder]) if (expired(j)) drop(j); else break;
          room = stored.length < maxJobs;
        }
        if (!room && finishedOrder[0] !== undefined) {
          drop(finishedOrder[0]);
          room = true;
        }
        expect(store.reserve()).toBe(room);
        if (room) {
          const j = job('queued');
          store.add(j);
          stored.push(j);
        }
      } else if (op < 8) {
        // A live job finishes.
        const live = stored.filter((j) => j.finishedAt === undefined);
        const j = live[random(Math.max(1, live.length))];
        if (j !== undefined) {
          finish(store, clock, j);
          finishedOrder.push(j);
        }
      } else if (op === 8) {
        clock.now += random(2_000);
      } else {
        // A read of some job: an expired one is gone from then on.
        const j = stored[random(Math.max(1, stored.length))];
        if (j !== undefined) {
          const gone = expired(j);
          if (gone) drop(j);
          expect(store.get(j.id)).toBe(gone ? undefined : j);
        }
      }
      if (step % 97 === 0) {
        store.evictExpired();
        for (const j of [...finishedOrder]) if (expired(j)) drop(j); else break;
      }
      expect(store.size).toBe(stored.length);
    }
    expect(store.list({ limit: maxJobs }).jobs.map((j) => j.id)).toEqual(stored.map((j) => j.id).reverse());
  });
});

describe('MemoryJobStore listing', () => {
  it('lists newest first, pages by sequence, and filters by status', () => {
    const { store, clock } = storeAt();
    const jobs = Array.from({ length: 7 }, () => job('queued'));
    for (const j of jobs) store.add(j);
    for (const j of jobs.filter((_, i) => i % 2 === 0)) finish(store, clock, j, 'failed');
    const first = store.list({ limit: 3 });
    expect(first.jobs).toEqual([jobs[6], jobs[5], jobs[4]]);
    const second = store.list({ limit: 3, beforeSeq: first.nextSeq! });
    expect(second.jobs).toEqual([jobs[3], jobs[2], jobs[1]]);
    const last = store.list({ limit: 3, beforeSeq: second.nextSeq! });
    expect(last).toEqual({ jobs: [jobs[0]] });
    const failed = store.list({ status: 'failed', limit: 2 });
    expect(failed.jobs).toEqual([jobs[6], jobs[4]]);
    expect(store.list({ status: 'failed', limit: 2, beforeSeq: failed.nextSeq! })).toEqual({ jobs: [jobs[2], jobs[0]] });
    // Exactly `limit` left: no next page.
    expect(store.list({ status: 'queued', limit: 3 }).nextSeq).toBeUndefined();
  });

  it('finds a job by its idempotency key until the job is gone', () => {
    const { store, clock } = storeAt({ ttlMs: 10 });
    const j = job('queued', { idempotency: { key: 'k1', fingerprint: 'f' } });
    store.add(j);
    expect(store.getByIdempotencyKey('k1')).toBe(j);
    finish(store, clock, j);
    clock.now += 10;
    expect(store.getByIdempotencyKey('k1')).toBeUndefined();
  });
});
