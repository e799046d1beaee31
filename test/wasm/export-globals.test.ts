import { describe, expect, it } from 'vitest';
import { exportMutableGlobals } from '../../src/wasm/export-globals.js';
import { compileWat } from '../../src/wasm/wat.js';

describe('exportMutableGlobals', () => {
  it('exports every unexported mutable number global under its index, and nothing else', async () => {
    const bytes = await compileWat(`(module
      (import "env" "g" (global $imported i32))
      (global $a (mut i32) (i32.const 7))
      (global $b (mut i64) (i64.const 3))
      (global $c f64 (f64.const 1.5))
      (global $d (export "d") (mut i32) (i32.const 4))
      (global $e (mut f32) (f32.const 2.5))
      (global $r (mut funcref) (ref.null func))
      (func (export "bump") (global.set $a (i32.add (global.get $a) (i32.const 1)))))`);
    const { bytes: rewritten, added } = exportMutableGlobals(bytes);
    expect(added).toEqual(['__wasm64_global_1', '__wasm64_global_2', '__wasm64_global_5']);
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(rewritten), { env: { g: 1 } });
    (exports.bump as () => void)();
    expect((exports.__wasm64_global_1 as WebAssembly.Global).value).toBe(8);
    expect((exports.__wasm64_global_2 as WebAssembly.Global).value).toBe(3n);
    expect((exports.__wasm64_global_5 as WebAssembly.Global).value).toBe(2.5);
    expect((exports.d as WebAssembly.Global).value).toBe(4);
  });

  it('returns the bytes as they are when there is nothing to export, and adds an export section when there was none', async () => {
    const plain = await compileWat('(module (global (export "g") (mut i32) (i32.const 0)))');
    expect(exportMutableGlobals(plain).bytes).toBe(plain);
    const hidden = await compileWat('(module (global (mut i32) (i32.const 5)))');
    const { bytes, added } = exportMutableGlobals(hidden);
    expect(added).toEqual(['__wasm64_global_0']);
    expect(WebAssembly.Module.exports(new WebAssembly.Module(bytes))).toEqual([{ name: '__wasm64_global_0', kind: 'global' }]);
  });
});
