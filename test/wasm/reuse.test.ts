// Instance reuse: which modules qualify, and a reused instance gives each job exactly a fresh instance's state.
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { InstanceCache, planReuse, REUSE_MAX_MEMORY_BYTES } from '../../src/wasm/reuse.js';
import type { ReusePlan } from '../../src/wasm/reuse.js';
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
  const call = (instance: WebAssembly.Instance, name: string): unknown => (instance.exports[name] as () => unknown)();

  it('hands the same instance back, reset to what a fresh instance holds', () => {
    const cache = new InstanceCache(4);
    const first = cache.instantiate('k', module, plan);
    expect(call(first, 'bump')).toBe(7042n);
    expect(call(first, 'bump')).toBe(8043n);
    cache.release('k', first);
    expect(cache.instantiate('k', module, plan)).toBe(first);
    expect(call(first, 'bump')).toBe(7042n);
    // A job that trapped half-way leaves nothing either.
    expect(() => call(first, 'bump_then_trap')).toThrow(WebAssembly.RuntimeError);
    cache.release('k', first);
    expect(call(cache.instantiate('k', module, plan), 'bump')).toBe(7042n);
  });

  it('drops an instance whose memory grew, since a memory cannot shrink', () => {
    const cache = new InstanceCache(4);
    const grown = cache.instantiate('k', module, plan);
    expect(call(grown, 'grow')).toBe(1);
    cache.release('k', grown);
    expect(cache.size).toBe(0);
    const next = cache.instantiate('k', module, plan);
    expect(next).not.toBe(grown);
    expect(call(next, 'pages')).toBe(1);
  });

  it('keeps one instance per key, the least recently released dropped past its size', () => {
    const cache = new InstanceCache(2);
    const [a, b, c] = ['a', 'b', 'c'].map((key) => cache.instantiate(key, module, plan));
    cache.release('a', a as WebAssembly.Instance);
    cache.release('b', b as WebAssembly.Instance);
    cache.release('c', c as WebAssembly.Instance);
    expect(cache.size).toBe(2);
    expect(cache.instantiate('a', module, plan)).not.toBe(a);
    expect(cache.instantiate('c', module, plan)).toBe(c);
  });

  /** A module's plan and a cache to run it through. */
  async function prepared(wat: string): Promise<{ module: WebAssembly.Module; plan: ReusePlan; cache: InstanceCache }> {
    const bytes = await compileWat(`(module ${wat})`);
    const planned = planReuse(bytes);
    if (!('plan' in planned)) throw new Error(`not reusable: ${planned.reason}`);
    return { module: new WebAssembly.Module(bytes), plan: planned.plan, cache: new InstanceCache(4) };
  }

  it('throws a trapping start function\'s trap once per job, and gives that module plain instances from then on', async () => {
    const t = await prepared('(memory (export "m") 1) (func $s unreachable) (start $s)');
    for (let job = 0; job < 3; job++) expect(() => t.cache.instantiate('k', t.module, t.plan)).toThrow(WebAssembly.RuntimeError);
    expect(t.cache.size).toBe(0);
  });

  it('does not keep an instance whose start function grew its memory past the bound', async () => {
    const pages = REUSE_MAX_MEMORY_BYTES / 65_536 + 4;
    const t = await prepared(`(memory (export "m") 1 ${pages}) (func $s (drop (memory.grow (i32.const ${pages - 1})))) (start $s) (func (export "size") (result i32) (memory.size))`);
    const first = t.cache.instantiate('k', t.module, t.plan);
    expect(call(first, 'size')).toBe(pages);
    t.cache.release('k', first);
    expect(t.cache.size).toBe(0);
    expect(t.cache.instantiate('k', t.module, t.plan)).not.toBe(first);
  });

  it('does not keep an instance with a NaN in a float global, whose bits JavaScript cannot write back', async () => {
    const t = await prepared('(global $d (export "d") (mut f64) (f64.const nan:0x1)) (func (export "bits") (result i64) (i64.reinterpret_f64 (global.get $d)))');
    for (let job = 0; job < 3; job++) {
      const instance = t.cache.instantiate('k', t.module, t.plan);
      expect(call(instance, 'bits')).toBe(0x7ff0000000000001n);
      t.cache.release('k', instance);
    }
    expect(t.cache.size).toBe(0);
  });
});

describe('planReuse on code it cannot decode', () => {
  it('answers "unreadable code" instead of throwing (a GC constant in a global initialiser)', () => {
    const globalSection = [1, 0x7f, 0x00, 0xfb, 0x1c, 0x0b];
    const bytes = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 6, globalSection.length, ...globalSection]);
    expect(planReuse(bytes)).toEqual({ reason: 'unreadable code' });
  });
});
