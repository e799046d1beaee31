// The batch plan: short jobs travel together, long or unknown ones alone, within the budget.
import { describe, expect, it } from 'vitest';
import { BATCH_BUDGET_MS, BatchPlan, MAX_BATCH } from '../../src/device/batch-plan.js';

const queue = (...keys: string[]) => keys.map((key, i) => ({ key, i }));
const keyOf = (e: { key: string }) => e.key;

describe('BatchPlan', () => {
  it('sends a job of a function never seen alone', () => {
    const plan = new BatchPlan();
    expect(plan.take(queue('add', 'add', 'add'), keyOf)).toHaveLength(1);
  });

  it('groups jobs known to be short, up to MAX_BATCH', () => {
    const plan = new BatchPlan();
    plan.observe('add', 0.01);
    expect(plan.take(queue('add', 'add', 'add', 'add'), keyOf)).toHaveLength(4);
    expect(plan.take(queue(...Array<string>(MAX_BATCH + 10).fill('add')), keyOf)).toHaveLength(MAX_BATCH);
  });

  it('stops at a long or unknown job, which goes first in its own batch next time', () => {
    const plan = new BatchPlan();
    plan.observe('add', 0.01);
    plan.observe('fib_rec', 50);
    const q = queue('add', 'add', 'fib_rec', 'add');
    expect(plan.take(q, keyOf).map((e) => e.i)).toEqual([0, 1]);
    expect(plan.take(q.slice(2), keyOf).map((e) => e.i)).toEqual([2]);
    expect(plan.take(queue('add', 'unseen'), keyOf)).toHaveLength(1);
  });

  it('fills a batch only while the expected times fit the budget', () => {
    const plan = new BatchPlan();
    plan.observe('quarter', BATCH_BUDGET_MS / 4);
    expect(plan.take(queue(...Array<string>(10).fill('quarter')), keyOf)).toHaveLength(4);
  });

  it('follows a function whose jobs get longer', () => {
    const plan = new BatchPlan();
    plan.observe('f', 0.01);
    for (let i = 0; i < 30; i++) plan.observe('f', 100);
    expect(plan.expectedMs('f')).toBeGreaterThan(BATCH_BUDGET_MS);
    expect(plan.take(queue('f', 'f'), keyOf)).toHaveLength(1);
  });
});
