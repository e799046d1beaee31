import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/wasm/evaluate.js';
import type { EvaluateOptions, WasiTask } from '../../src/wasm/evaluate.js';
import { enableMemory64 } from '../../src/wasm/features.js';
import { placement } from '../../src/wasm/memory-io.js';
import { compileWat } from '../../src/wasm/wat.js';

const wasi = (over: Partial<WasiTask> = {}): WasiTask => ({ args: ['main.wasm'], env: {}, stdin: new Uint8Array(0), outputLimit: 1 << 20, ...over });
const c = async (name: string) => new WebAssembly.Module(await readFile(`test/fixtures/c/${name}.wasm`));
const wat = async (name: string) => {
  enableMemory64();
  return new WebAssembly.Module(await compileWat(await readFile(`test/fixtures/wasi/${name}.wat`, 'utf8'), `${name}.wat`));
};
const text = (s: string) => ({ value: s, base64: false });

describe('evaluate with WASI', () => {
  it('runs the C command: _start returning is exit code 0, with stdout and stderr captured', async () => {
    const options: EvaluateOptions = { memory: 'memory', wasi: wasi({ args: ['main.wasm', 'x'], stdin: new TextEncoder().encode('hi') }) };
    expect(evaluate(await c('demo'), '_start', [], options)).toEqual({
      ok: true,
      results: [],
      wasi: { exitCode: 0, stdout: text('argc=2\nargv[0]=main.wasm\nargv[1]=x\nhello, world!\nHI'), stderr: text('read 2 bytes from stdin\n'), truncated: false },
    });
  });

  it('reports the exit code of proc_exit', async () => {
    const result = evaluate(await c('demo'), '_start', [], { memory: 'memory', wasi: wasi({ env: { EXIT_CODE: '3' } }) });
    expect(result).toMatchObject({ ok: true, results: [], wasi: { exitCode: 3 } });
  });

  it('runs a memory64 command whose preview1 pointers are i64', async () => {
    const result = evaluate(await wat('cat64'), '_start', [], { memory: 'memory', addressType: 'i64', wasi: wasi({ stdin: new TextEncoder().encode('piped in') }) });
    expect(result).toEqual({ ok: true, results: [], wasi: { exitCode: 7, stdout: text('hello from memory64\npiped in'), stderr: text(''), truncated: false } });
  });

  it('keeps what the program printed before it trapped', async () => {
    const module = new WebAssembly.Module(await compileWat(`(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "before the trap\\n")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 16))
        (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
        unreachable))`));
    expect(evaluate(module, '_start', [], { memory: 'memory', wasi: wasi() })).toEqual({
      ok: false, code: 'WASM64_TRAP', message: 'unreachable', wasi: { stdout: text(''), stderr: text('before the trap\n'), truncated: false },
    });
  });

  it('gives stdout as base64 when it is not UTF-8', async () => {
    const module = new WebAssembly.Module(await compileWat(`(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "\\ff\\fe\\00\\01")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 4))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`));
    const result = evaluate(module, '_start', [], { memory: 'memory', wasi: wasi() });
    expect(result).toMatchObject({ ok: true, wasi: { stdout: { value: Buffer.from([0xff, 0xfe, 0, 1]).toString('base64'), base64: true } } });
  });

  it('keeps a multi-byte character whole when the output limit cuts through it', async () => {
    // 59 bytes end inside the fourth "é" of "hello, éééé": the cut character is dropped, the text stays text
    const cut = evaluate(await c('demo'), '_start', [], { memory: 'memory', wasi: wasi({ env: { NAME: 'ééééé' }, outputLimit: 59 }) });
    expect(cut).toMatchObject({ ok: true, wasi: { truncated: true } });
    expect(cut.ok && cut.wasi?.stdout).toEqual({ value: 'argc=1\nargv[0]=main.wasm\nenv NAME=ééééé\nhello, ééé', base64: false });
  });
});

describe('evaluate with memory I/O', () => {
  const viaMalloc = (over: EvaluateOptions = {}): EvaluateOptions => ({ memory: 'memory', initialize: true, allocator: 'malloc', wasi: wasi(), ...over });

  it('passes a string through malloc to a C function: count_vowels("Hello, WebAssembly")', async () => {
    const result = evaluate(await c('strings'), 'count_vowels', [0], viaMalloc({ placements: [placement({ string: 'Hello, WebAssembly' }, 0)] }));
    expect(result).toMatchObject({ ok: true, results: [5] });
  });

  it('round-trips a string: upper(ptr, len) in place, read back with the length given', async () => {
    const result = evaluate(await c('strings'), 'upper', [0, 0], viaMalloc({
      placements: [placement({ string: 'round trip', length: true }, 0)],
      returns: { type: 'string', length: 10 },
    }));
    expect(result).toMatchObject({ ok: true, returned: { value: 'ROUND TRIP', base64: false, truncated: false } });
  });

  it('reads a NUL-terminated string the function allocated: greet("wasm")', async () => {
    const result = evaluate(await c('strings'), 'greet', [0], viaMalloc({ placements: [placement({ string: 'wasm' }, 0)], returns: { type: 'string' } }));
    expect(result).toMatchObject({ ok: true, returned: { value: 'Hello, wasm!', base64: false, truncated: false } });
  });

  it('passes bytes with their length: checksum', async () => {
    const bytes = Buffer.from([1, 2, 3, 250]).toString('base64');
    const result = evaluate(await c('strings'), 'checksum', [0, 0], viaMalloc({ placements: [placement({ bytes, length: true }, 0)] }));
    expect(result).toMatchObject({ ok: true, results: [256] });
  });

  it('cuts a result read from memory at the output limit and flags it', async () => {
    const result = evaluate(await c('strings'), 'greet', [0], viaMalloc({ placements: [placement({ string: 'x'.repeat(100) }, 0)], returns: { type: 'string' }, outputLimit: 10 }));
    expect(result).toMatchObject({ ok: true, returned: { value: 'Hello, xxx', truncated: true } });
  });

  it('works on memory64: i64 pointers from malloc, _initialize first, (ptr, len) as two results', async () => {
    const module = await wat('strings64');
    const options = { memory: 'memory', addressType: 'i64' as const, initialize: true, allocator: 'malloc' };
    expect(evaluate(module, 'count_a', [0n], { ...options, placements: [placement({ string: 'banana' }, 0)] })).toMatchObject({ ok: true, results: [3] });
    expect(evaluate(module, 'upper', [0n, 0n], { ...options, placements: [placement({ string: 'abc-xyz', length: true }, 0)], returns: { type: 'string', length: 7 } }))
      .toMatchObject({ ok: true, returned: { value: 'ABC-XYZ' } });
    expect(evaluate(module, 'split', [0n], { ...options, placements: [placement({ bytes: Buffer.from('\x00\x01\x02\x03').toString('base64') }, 0)], returns: { type: 'bytes', length: 'next' } }))
      .toMatchObject({ ok: true, results: [4096n, 3n], returned: { value: Buffer.from([0, 1, 2]).toString('base64'), base64: true } });
  });

  it('fails with WASM64_MEMORY_IO when the allocator returns NULL or a result points outside memory', async () => {
    const module = await wat('strings64');
    const noInit = { memory: 'memory', addressType: 'i64' as const, allocator: 'malloc', placements: [placement({ string: 'a' }, 0)] };
    expect(evaluate(module, 'count_a', [0n], noInit)).toMatchObject({ ok: false, code: 'WASM64_MEMORY_IO' });
    const bad = new WebAssembly.Module(await compileWat('(module (memory (export "memory") 1) (func (export "p") (result i32) i32.const 70000))'));
    expect(evaluate(bad, 'p', [], { memory: 'memory', returns: { type: 'string' } })).toMatchObject({ ok: false, code: 'WASM64_MEMORY_IO' });
    const unterminated = new WebAssembly.Module(await compileWat('(module (memory (export "memory") 1) (data (i32.const 65534) "ab") (func (export "p") (result i32) i32.const 65534))'));
    expect(evaluate(unterminated, 'p', [], { memory: 'memory', returns: { type: 'string' } })).toMatchObject({ ok: false, code: 'WASM64_MEMORY_IO' });
  });
});
