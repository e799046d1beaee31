import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/wasm/evaluate.js';
import { enableMemory64 } from '../../src/wasm/features.js';
import { compileWat } from '../../src/wasm/wat.js';

describe('the default module', () => {
  it('is the committed binary of its WAT source (rebuild with npm run wasm)', async () => {
    const source = await readFile('src/wasm/default-module.wat', 'utf8');
    const committed = new Uint8Array(await readFile('src/wasm/default-module.wasm'));
    expect(Buffer.from(await compileWat(source))).toEqual(Buffer.from(committed));
  });

  it('is memory64 and computes add, sub, mul, div, fac, fib over i64', async () => {
    expect(enableMemory64()).toBe(true);
    const module = new WebAssembly.Module(await readFile('src/wasm/default-module.wasm'));
    const run = (fn: string, ...args: bigint[]) => evaluate(module, fn, args);
    expect(run('add', 2n, 3n)).toEqual({ ok: true, results: [5n] });
    expect(run('sub', 2n, 3n)).toEqual({ ok: true, results: [-1n] });
    expect(run('mul', 2n ** 62n, 2n)).toEqual({ ok: true, results: [-(2n ** 63n)] });
    expect(run('div', 7n, 2n)).toEqual({ ok: true, results: [3n] });
    expect(run('fac', 20n)).toEqual({ ok: true, results: [2432902008176640000n] });
    expect(run('fib', 92n)).toEqual({ ok: true, results: [7540113804746346429n] });
    expect(run('fib_rec', 20n)).toEqual({ ok: true, results: [6765n] });
    expect(run('divmod', 7n, 2n)).toEqual({ ok: true, results: [3n, 1n] });
    expect(evaluate(module, 'addf', [0.5, 0.25])).toEqual({ ok: true, results: [0.75] });
  });

  it('traps on division by zero with the engine message', async () => {
    enableMemory64();
    const module = new WebAssembly.Module(await readFile('src/wasm/default-module.wasm'));
    expect(evaluate(module, 'div', [1n, 0n])).toEqual({ ok: false, code: 'WASM64_TRAP', message: 'divide by zero' });
  });
});
