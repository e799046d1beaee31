import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { describeModule, ModuleFormatError } from '../../src/wasm/module-info.js';
import { compileWat } from '../../src/wasm/wat.js';

describe('describeModule', () => {
  it('reads signatures, memory and imports of a wasm32 module', async () => {
    const bytes = await compileWat(`(module
      (import "env" "log" (func (param i32)))
      (memory (export "mem") 2 10)
      (func (export "mix") (param i32 i64 f32 f64) (result f64 i64) f64.const 1 i64.const 2)
      (global (export "g") i32 (i32.const 0)))`);
    const info = describeModule(bytes);
    expect(info.exports).toEqual([{ name: 'mix', params: ['i32', 'i64', 'f32', 'f64'], results: ['f64', 'i64'] }]);
    expect(info.imports).toEqual([{ module: 'env', name: 'log', kind: 'function', signature: { params: ['i32'], results: [] } }]);
    expect(info.memory).toMatchObject({ index: 'i32', min: 2, max: 10, shared: false });
    expect(info.otherExports).toEqual([{ name: 'mem', kind: 'memory' }, { name: 'g', kind: 'global' }]);
  });

  it('reads the memory64 default module', async () => {
    const bytes = new Uint8Array(await readFile('src/wasm/default-module.wasm'));
    const info = describeModule(bytes);
    expect(info.memory).toMatchObject({ index: 'i64', min: 1, max: 16 });
    expect(info.exports.find((e) => e.name === 'add')).toEqual({ name: 'add', params: ['i64', 'i64'], results: ['i64'] });
    expect(info.exports.find((e) => e.name === 'divmod')?.results).toEqual(['i64', 'i64']);
  });

  it('rejects bytes that are not wasm, and truncated modules', async () => {
    expect(() => describeModule(new TextEncoder().encode('hello world'))).toThrow(ModuleFormatError);
    const bytes = await compileWat('(module (func (export "f") (result i32) i32.const 1))');
    expect(() => describeModule(bytes.subarray(0, bytes.length - 5))).toThrow(ModuleFormatError);
  });
});
