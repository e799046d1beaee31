import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluate } from '../../src/wasm/evaluate.js';
import { enableMemory64 } from '../../src/wasm/features.js';
import { instrumentModule } from '../../src/wasm/instrument.js';
import type { InstrumentOptions } from '../../src/wasm/instrument.js';
import { compileWat } from '../../src/wasm/wat.js';

beforeAll(() => {
  enableMemory64();
});

const fixture = async (name: string): Promise<Uint8Array> => compileWat(await readFile(`test/fixtures/${name}.wat`, 'utf8'), `${name}.wat`);

async function instrumented(name: string, options: InstrumentOptions) {
  const { bytes, instrumentation } = instrumentModule(await fixture(name), options);
  return { module: new WebAssembly.Module(bytes), instrumentation };
}

describe('evaluate', () => {
  it('returns every value of every type, on wasm32 and memory64', async () => {
    for (const name of ['types32', 'types64']) {
      const module = new WebAssembly.Module(await fixture(name));
      expect(evaluate(module, 'reverse', [-7, 2n ** 63n - 1n, 1.5, -0.25])).toEqual({ ok: true, results: [-0.25, 1.5, 2n ** 63n - 1n, -7] });
      expect(evaluate(module, 'div_f32', [1, 0])).toEqual({ ok: true, results: [Infinity] });
    }
  });

  it.each([
    ['unreachable', [], 'unreachable'],
    ['div_by_zero', [1], 'divide by zero'],
    ['out_of_bounds', [65536], 'memory access out of bounds'],
    ['bad_conversion', [Number.NaN], 'float unrepresentable in integer range'],
  ])('fails %s with WASM64_TRAP and the engine message', async (fn, args, message) => {
    const module = new WebAssembly.Module(await fixture('traps'));
    expect(evaluate(module, fn, args)).toEqual({ ok: false, code: 'WASM64_TRAP', message });
  });

  it('fails deep recursion with WASM64_STACK_OVERFLOW', async () => {
    const module = new WebAssembly.Module(await fixture('recursion'));
    expect(evaluate(module, 'depth', [1000n])).toEqual({ ok: true, results: [1000n] });
    expect(evaluate(module, 'depth', [10_000_000n])).toMatchObject({ ok: false, code: 'WASM64_STACK_OVERFLOW', message: expect.stringMatching(/call stack/) });
  });

  it('reports the fuel used, and fails with WASM64_FUEL_EXHAUSTED when it runs out', async () => {
    const { module, instrumentation } = await instrumented('loops', { memoryCapPages: null, fuel: true });
    expect(evaluate(module, 'count', [10n], { instrumentation, fuel: 1000 })).toEqual({ ok: true, results: [10n], fuelUsed: 102 });
    expect(evaluate(module, 'spin', [], { instrumentation, fuel: 5000 })).toMatchObject({ ok: false, code: 'WASM64_FUEL_EXHAUSTED', fuelUsed: 5000 });
  });

  it('fails growth past the cap with WASM64_MEMORY_LIMIT, and still traps normally beneath it', async () => {
    const { module, instrumentation } = await instrumented('grower64', { memoryCapPages: 4, fuel: false });
    expect(evaluate(module, 'grow', [3n], { instrumentation })).toEqual({ ok: true, results: [1n] });
    expect(evaluate(module, 'grow', [4n], { instrumentation })).toMatchObject({ ok: false, code: 'WASM64_MEMORY_LIMIT' });
    const traps = await instrumented('traps', { memoryCapPages: 1, fuel: true });
    expect(evaluate(traps.module, 'div_by_zero', [1], { instrumentation: traps.instrumentation, fuel: 100 })).toMatchObject({ ok: false, code: 'WASM64_TRAP', message: 'divide by zero' });
  });

  it('runs a start function that the rewriter moved, under the job\'s fuel', async () => {
    const roomy = await instrumented('start', { memoryCapPages: 2, fuel: true });
    expect(evaluate(roomy.module, 'ready', [], { instrumentation: roomy.instrumentation, fuel: 100_000 })).toMatchObject({ ok: true, results: [1] });
    expect(evaluate(roomy.module, 'ready', [], { instrumentation: roomy.instrumentation, fuel: 100 })).toMatchObject({ ok: false, code: 'WASM64_FUEL_EXHAUSTED' });
    // The start function grows memory to 2 pages, past a 1-page cap: the job fails with the limit, not a bare trap.
    const tight = await instrumented('start', { memoryCapPages: 1, fuel: true });
    expect(evaluate(tight.module, 'pages', [], { instrumentation: tight.instrumentation, fuel: 100_000 })).toMatchObject({ ok: false, code: 'WASM64_MEMORY_LIMIT' });
  });
});
