// Instance reuse: which modules qualify, and a reused instance gives each job exactly a fresh instance's state.
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { InstanceCache, planReuse, REUSE_MAX_MEMORY_BYTES } from '../../src/wasm/reuse.js';
import type { ReusePlan , ReusableInstance} from '../../src/wasm/reuse.js';
import { compileWat } from '../../src/wasm/wat.js';
import { enableMemory64 } from '../../src/wasm/features.js';

const reasonFor = async (wat: string) => {
  const planned = planReuse(await compileWat(`(module ${wat})`));
  return 'reason' in planned ? planned.reason : planned.plan;
};

let module: WebAssembly.Module;
let plan: ReusePlan;
beforeAll(async () => {
  enableMemory64();
  const bytes = await compileWat(await readFile('test/fixtures/reuse.wat', 'utf8'));
  module = new WebAssembly.Module(bytes);
  const planned = planReuse(bytes);
  if (!('plan' in planned)) throw new Error(`reuse.wat is not reusable: ${planned.reason}`);
  plan = planned.plan;
});

const call = (instance: ReusableInstance, name: string): unknown => (instance.instance.exports[name] as () => unknown)();

describe('planReuse', () => {
  it('plans to reset every memory and mutable global, by the names that export them', async () => {
    expect(plan).toEqual({ memories: ['memory'], globals: ['count'] });
    expect(await reasonFor('(func (export "f") (result i32) (i32.const 1))')).toEqual({ memories: [], globals: [] });
    expect(await reasonFor('(memory 1) (export "a" (memory 0)) (export "b" (memory 0)) (global (export "g") i32 (i32.const 1))'))
      .toEqual({ memories: ['a'], globals: [] });
    expect(await reasonFor('(memory (export "m") i64 1)')).toEqual({ memories: ['m'], globals: [] });
  });

  it('refuses state it cannot reach or reset', async () => {
    expect(await reasonFor('(import "env" "f" (func))')).toBe('imports');
    expect(await reasonFor('(memory 1)')).toBe('unexported state');
    expect(await reasonFor('(memory (export "m") 1) (global (mut i32) (i32.const 0))')).toBe('unexported state');
    expect(await reasonFor('(global (export "g") (mut funcref) (ref.null func))')).toBe('unexported state');
    expect(await reasonFor('(memory (export "m") 1 1 shared)')).toBe('shared memory');
    expect(await reasonFor(`(memory (export "m") ${REUSE_MAX_MEMORY_BYTES / 65_536 + 1})`)).toBe('memory too large');
  });

  it('refuses code that changes a table or drops a segment', async () => {
    const table = '(table (export "t") 2 funcref) (func $f)';
    expect(await reasonFor(`${table} (func (export "s") (table.set (i32.const 0) (ref.func $f))) (elem declare func $f)`)).toBe('table or segment instructions');
    expect(await reasonFor(`${table} (func (export "g") (drop (table.grow (ref.null func) (i32.const 1))))`)).toBe('table or segment instructions');
    expect(await reasonFor(`${table} (func (export "f") (table.fill (i32.const 0) (ref.null func) (i32.const 1)))`)).toBe('table or segment instructions');
    expect(await reasonFor('(memory (export "m") 1) (data $d "x") (func (export "d") (data.drop $d))')).toBe('table or segment instructions');
    expect(await reasonFor(`${table} (elem $e func $f) (func (export "e") (elem.drop $e))`)).toBe('table or segment instructions');
    // Reading a table, calling through it and copying passive data into memory change nothing that stays.
    expect(await reasonFor(`${table} (type $t (func)) (func (export "c") (call_indirect (type $t) (i32.const 0)) (drop (table.size)))`))
      .toEqual({ memories: [], globals: [] });
    expect(await reasonFor('(memory (export "m") 1) (data $d "x") (func (export "i") (memory.init $d (i32.const 0) (i32.const 0) (i32.const 1)))'))
      .toEqual({ memories: ['m'], globals: [] });
  });
});

describe('InstanceCache', () => {
  it('hands the same instance back, reset to what a fresh instance holds', () => {
    const cache = new InstanceCache(4);
    const first = cache.take('k', module, plan);
    if (first === undefined) throw new Error('no instance');
    expect(call(first, 'bump')).toBe(7042n);
    expect(call(first, 'bump')).toBe(8043n);
    cache.give('k', first);
    const again = cache.take('k', module, plan);
    expect(again).toBe(first);
    expect(call(first, 'bump')).toBe(7042n);
    // A job that trapped half-way leaves nothing either.
    expect(() => call(first, 'bump_then_trap')).toThrow(WebAssembly.RuntimeError);
    cache.give('k', first);
    expect(call(cache.take('k', module, plan) as ReusableInstance, 'bump')).toBe(7042n);
  });

  it('drops an instance whose memory grew, since a memory cannot shrink', () => {
    const cache = new InstanceCache(4);
    const grown = cache.take('k', module, plan) as ReusableInstance;
    expect(call(grown, 'grow')).toBe(1);
    cache.give('k', grown);
    expect(cache.size).toBe(0);
    const next = cache.take('k', module, plan) as ReusableInstance;
    expect(next).not.toBe(grown);
    expect(call(next, 'pages')).toBe(1);
  });

  it('keeps one instance per key, the least recently given dropped past its size', () => {
    const cache = new InstanceCache(2);
    const [a, b, c] = ['a', 'b', 'c'].map((key) => cache.take(key, module, plan) as ReusableInstance);
    cache.give('a', a as ReusableInstance);
    cache.give('b', b as ReusableInstance);
    cache.give('c', c as ReusableInstance);
    expect(cache.size).toBe(2);
    expect(cache.take('a', module, plan)).not.toBe(a);
    expect(cache.take('c', module, plan)).toBe(c);
  });

  it('answers undefined when instantiation throws, for the caller to report', async () => {
    const trapping = new WebAssembly.Module(await compileWat('(module (func $s unreachable) (start $s))'));
    expect(new InstanceCache(2).take('t', trapping, { memories: [], globals: [] })).toBeUndefined();
  });
});
