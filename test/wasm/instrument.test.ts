import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { BinaryReader } from '../../src/wasm/binary-reader.js';
import { enableMemory64 } from '../../src/wasm/features.js';
import { instrumentModule, MemoryCapError, Status } from '../../src/wasm/instrument.js';
import type { Instrumentation } from '../../src/wasm/instrument.js';
import { readInstruction, UnsupportedInstructionError } from '../../src/wasm/instructions.js';
import { describeModule } from '../../src/wasm/module-info.js';
import { compileWat } from '../../src/wasm/wat.js';

beforeAll(() => {
  enableMemory64();
});

const fixture = async (name: string): Promise<Uint8Array> => compileWat(await readFile(`test/fixtures/${name}.wat`, 'utf8'), `${name}.wat`);

/** An instance of an instrumented module with `fuel` set, and readers for its globals. */
function instantiate(bytes: Uint8Array, instrumentation: Instrumentation | null, fuel = 0n) {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
  const global = (name: string | null | undefined) => instance.exports[name ?? ''] as WebAssembly.Global;
  if (instrumentation?.fuel) global(instrumentation.fuel).value = fuel;
  return {
    exports: instance.exports as Record<string, (...args: unknown[]) => unknown>,
    fuelLeft: () => global(instrumentation?.fuel).value as bigint,
    status: () => global(instrumentation?.status).value as number,
  };
}

describe('fuel metering', () => {
  it('charges one unit per instruction, per region entered (else, end, catch are free; a br_if out pays the rest of its region)', async () => {
    const bytes = await fixture('loops');
    const { bytes: metered, instrumentation } = instrumentModule(bytes, { memoryCapPages: null, fuel: true });
    expect(WebAssembly.validate(metered)).toBe(true);
    // count(n): entry [block loop] 2, each of the n + 1 entries of the loop body
    // [get get ge_u br_if get const add set br] 9 (the last leaves at its br_if), then [get] 1: 9n + 12.
    for (const n of [0n, 1n, 10n, 1000n]) {
      const run = instantiate(metered, instrumentation, 1_000_000n);
      expect(run.exports.count!(n)).toBe(n);
      expect(1_000_000n - run.fuelLeft()).toBe(9n * n + 12n);
      expect(run.status()).toBe(Status.running);
    }
  });

  it.each([
    ['its end', 0, 3],
    ['a br to its own label', 1, 4],
    ['a return', 2, 4],
    ['a br_table to its own label', 3, 5],
    ['a tail call', 4, 5],
    ['the end of a try (it meters the global)', 5, 6],
  ])('counts fuel exactly across a call whose callee leaves by %s', async (_how, which, callee) => {
    // repeat(which, n): 9n + 12 of its own, plus n calls of `callee` units each.
    const { bytes, instrumentation } = instrumentModule(await fixture('fuel-paths'), { memoryCapPages: null, fuel: true });
    for (const n of [0n, 1n, 50n]) {
      const run = instantiate(bytes, instrumentation, 1_000_000n);
      expect(run.exports.repeat!(which, n)).toBe(n);
      expect(1_000_000n - run.fuelLeft()).toBe(9n * n + 12n + BigInt(callee) * n);
    }
  });

  it('stops an endless loop with a distinguishable trap once the fuel is gone', async () => {
    const { bytes, instrumentation } = instrumentModule(await fixture('loops'), { memoryCapPages: null, fuel: true });
    const run = instantiate(bytes, instrumentation, 10_000n);
    expect(() => run.exports.spin!()).toThrow(WebAssembly.RuntimeError);
    expect(run.status()).toBe(Status.fuelExhausted);
  });

  it('runs with exactly enough fuel, and traps with one unit less', async () => {
    const { bytes, instrumentation } = instrumentModule(await fixture('loops'), { memoryCapPages: null, fuel: true });
    expect(instantiate(bytes, instrumentation, 102n).exports.count!(10n)).toBe(10n);
    const short = instantiate(bytes, instrumentation, 101n);
    expect(() => short.exports.count!(10n)).toThrow(WebAssembly.RuntimeError);
    expect(short.status()).toBe(Status.fuelExhausted);
  });

  it('meters every call, so fuel runs out before deep recursion exhausts the stack', async () => {
    const { bytes, instrumentation } = instrumentModule(await fixture('recursion'), { memoryCapPages: null, fuel: true });
    expect(instantiate(bytes, instrumentation, 1_000_000n).exports.depth!(100n)).toBe(100n);
    const run = instantiate(bytes, instrumentation, 1000n);
    expect(() => run.exports.depth!(1_000_000n)).toThrow(WebAssembly.RuntimeError);
    expect(run.status()).toBe(Status.fuelExhausted);
  });

  it('moves the start function out of instantiation, so it runs metered when the worker calls it', async () => {
    const bytes = await fixture('start');
    expect(describeModule(bytes).hasStart).toBe(true);
    const { bytes: metered, instrumentation } = instrumentModule(bytes, { memoryCapPages: null, fuel: true });
    expect(describeModule(metered).hasStart).toBe(false);
    expect(instrumentation?.start).toBe('__wasm64_start');
    const run = instantiate(metered, instrumentation, 100_000n);
    expect(run.exports.ready!()).toBe(0);
    run.exports.__wasm64_start!();
    expect(run.exports.ready!()).toBe(1);
    expect(100_000n - run.fuelLeft()).toBeGreaterThan(100n * 5n);
    const starved = instantiate(metered, instrumentation, 50n);
    expect(() => starved.exports.__wasm64_start!()).toThrow(WebAssembly.RuntimeError);
    expect(starved.status()).toBe(Status.fuelExhausted);
  });
});

describe('memory cap', () => {
  it.each(['grower32', 'grower64'])('%s: lowers the maximum, grows up to the cap, and traps with its status past it', async (name) => {
    const bytes = await fixture(name);
    const wide = name === 'grower64';
    const page = (n: number) => (wide ? BigInt(n) : n);
    const { bytes: capped, instrumentation, cappedMemories } = instrumentModule(bytes, { memoryCapPages: 3, fuel: false });
    expect(cappedMemories).toBe(1);
    expect(describeModule(capped).memory).toMatchObject({ index: wide ? 'i64' : 'i32', min: 1, max: 3 });
    const run = instantiate(capped, instrumentation);
    expect(run.exports.grow!(page(1))).toBe(page(1));
    expect(run.exports.grow!(page(1))).toBe(page(2));
    expect(run.exports.pages!()).toBe(page(3));
    expect(() => run.exports.grow!(page(1))).toThrow(WebAssembly.RuntimeError);
    expect(run.status()).toBe(Status.memoryLimit);
  });

  it('enforces the cap even on code that ignores memory.grow failing', async () => {
    const { bytes, instrumentation } = instrumentModule(await fixture('grower32'), { memoryCapPages: 5, fuel: false });
    const run = instantiate(bytes, instrumentation);
    expect(() => run.exports.grow_by_pages!(100)).toThrow(WebAssembly.RuntimeError);
    expect(run.status()).toBe(Status.memoryLimit);
    expect(run.exports.pages!()).toBe(5);
  });

  it('leaves a module alone when its own maximum is within the cap: growing past it returns -1', async () => {
    const bytes = await fixture('bounded-memory');
    const out = instrumentModule(bytes, { memoryCapPages: 100, fuel: false });
    expect(out.bytes).toBe(bytes);
    expect(out.instrumentation).toBeNull();
    const run = instantiate(out.bytes, null);
    expect(run.exports.grow!(2)).toBe(1);
    expect(run.exports.grow!(1)).toBe(-1);
  });

  it('caps a memory no code grows by its declared maximum alone', async () => {
    const bytes = await compileWat('(module (memory (export "m") 1) (func (export "f") (result i32) (memory.size)))');
    const out = instrumentModule(bytes, { memoryCapPages: 2, fuel: false });
    expect(out.instrumentation).toBeNull();
    expect(describeModule(out.bytes).memory).toMatchObject({ min: 1, max: 2 });
    const memory = new WebAssembly.Instance(new WebAssembly.Module(out.bytes), {}).exports.m as WebAssembly.Memory;
    expect(() => memory.grow(2)).toThrow(RangeError);
  });

  it('refuses a memory whose minimum is above the cap', () => {
    expect(() => instrumentModule(bytesOf64Pages, { memoryCapPages: 63, fuel: false })).toThrow(MemoryCapError);
    expect(instrumentModule(bytesOf64Pages, { memoryCapPages: 64, fuel: false }).cappedMemories).toBe(1);
  });
});

let bytesOf64Pages: Uint8Array;
beforeAll(async () => {
  bytesOf64Pages = await fixture('big-memory');
});

describe('the rewritten module', () => {
  it('is the same module when there is nothing to do', async () => {
    const bytes = await fixture('loops');
    expect(instrumentModule(bytes, { memoryCapPages: 10, fuel: false })).toEqual({ bytes, instrumentation: null, cappedMemories: 0 });
  });

  it('computes what the original computes, for every kind of immediate (SIMD, bulk memory, atomics, exceptions, tail calls)', async () => {
    const bytes = await fixture('opcodes');
    const original = (new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports.run as () => bigint)();
    const { bytes: rewritten, instrumentation } = instrumentModule(bytes, { memoryCapPages: 1, fuel: true });
    expect(WebAssembly.validate(rewritten)).toBe(true);
    const run = instantiate(rewritten, instrumentation, 1_000_000n);
    expect(run.exports.run!()).toBe(original);
    expect(run.fuelLeft()).toBeLessThan(1_000_000n);
  });

  it.each([
    'src/wasm/default-module.wasm',
    'test/fixtures/c/demo.wasm',
    'test/fixtures/c/strings.wasm',
  ])('%s stays valid with fuel and a memory cap', async (path) => {
    const bytes = new Uint8Array(await readFile(path));
    const { bytes: rewritten } = instrumentModule(bytes, { memoryCapPages: 64, fuel: true });
    expect(WebAssembly.validate(rewritten)).toBe(true);
    const before = describeModule(bytes);
    const after = describeModule(rewritten);
    expect(after.exports).toEqual(before.exports);
    expect(after.imports).toEqual(before.imports);
  });

  it('computes the default module\'s results unchanged', async () => {
    const bytes = new Uint8Array(await readFile('src/wasm/default-module.wasm'));
    const { bytes: rewritten, instrumentation } = instrumentModule(bytes, { memoryCapPages: 1, fuel: true });
    const run = instantiate(rewritten, instrumentation, 1_000_000n);
    expect(run.exports.fac!(20n)).toBe(2432902008176640000n);
    expect(run.exports.fib!(92n)).toBe(7540113804746346429n);
    expect(run.exports.divmod!(17n, 5n)).toEqual([3n, 2n]);
    expect(() => run.exports.div!(1n, 0n)).toThrow('divide by zero');
    expect(run.status()).toBe(Status.running);
  });

  it('picks export names that do not collide with the module\'s own', async () => {
    const bytes = await compileWat(`(module (global (export "__wasm64_status") i32 (i32.const 5))
      (func (export "__wasm64_fuel") (result i32) (global.get 0)))`);
    const { bytes: rewritten, instrumentation } = instrumentModule(bytes, { memoryCapPages: null, fuel: true });
    expect(instrumentation).toEqual({ status: '__wasm64_status_1', fuel: '__wasm64_fuel_1', start: null });
    const run = instantiate(rewritten, instrumentation, 100n);
    expect(run.exports.__wasm64_fuel!()).toBe(5);
  });
});

describe('readInstruction', () => {
  it('moves past each immediate, and refuses opcodes it does not know', () => {
    const code = Uint8Array.of(0x41, 0xff, 0x7f, 0x44, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x0e, 0x02, 0x00, 0x01, 0x00, 0xfb, 0x00);
    const r = new BinaryReader(code);
    expect(readInstruction(r)).toBe(0x41);
    expect(r.offset).toBe(3);
    expect(readInstruction(r)).toBe(0x44);
    expect(r.offset).toBe(12);
    expect(readInstruction(r)).toBe(0x0e);
    expect(r.offset).toBe(17);
    expect(() => readInstruction(r)).toThrow(UnsupportedInstructionError);
  });
});
