// Instantiates test/fixtures/wasi/calls{32,64}.wat (every preview1 import re-exported) against our WASI host.
import { readFile } from 'node:fs/promises';
import { enableMemory64 } from '../../src/wasm/features.js';
import { PREVIEW1_FUNCTIONS } from '../../src/wasm/wasi/abi.js';
import { createWasi } from '../../src/wasm/wasi/preview1.js';
import type { Wasi, WasiOptions } from '../../src/wasm/wasi/preview1.js';
import { compileWat } from '../../src/wasm/wat.js';

export type Width = 'i32' | 'i64';

export interface CallsInstance {
  wasi: Wasi;
  /** Calls the re-exported preview1 function; addresses may be given as numbers for either width. */
  call(name: string, ...args: (number | bigint)[]): number;
  /** The instance's memory, through a DataView refreshed on each access. */
  view(): DataView;
  bytes(): Uint8Array;
  /** Reads/writes a pointer or size at the fixture's width. */
  writeSize(at: number, value: number): void;
  readSize(at: number): number;
  width: 4 | 8;
}

const modules = new Map<Width, WebAssembly.Module>();

async function compiled(width: Width): Promise<WebAssembly.Module> {
  let module = modules.get(width);
  if (module === undefined) {
    enableMemory64();
    const file = width === 'i64' ? 'calls64.wat' : 'calls32.wat';
    module = new WebAssembly.Module(await compileWat(await readFile(`test/fixtures/wasi/${file}`, 'utf8'), file));
    modules.set(width, module);
  }
  return module;
}

export async function instantiateCalls(width: Width, options: Partial<WasiOptions> = {}): Promise<CallsInstance> {
  const wasi = createWasi({ args: [], env: {}, stdin: new Uint8Array(0), outputLimit: 1 << 20, ...options });
  const instance = new WebAssembly.Instance(await compiled(width), { wasi_snapshot_preview1: wasi.imports });
  const memory = instance.exports.memory as WebAssembly.Memory;
  wasi.bind(memory, width);
  // Garbage everywhere, so that a 4-byte write where 8 bytes belong (or any short write) shows.
  new Uint8Array(memory.buffer).fill(0xaa);
  const view = (): DataView => new DataView(memory.buffer);
  const size = width === 'i64' ? 8 : 4;
  return {
    wasi,
    width: size,
    view,
    bytes: () => new Uint8Array(memory.buffer),
    call: (name, ...args) => {
      // Parameters the fixture declares i64 (u64 values, and addresses on memory64) must be bigints.
      const kinds = PREVIEW1_FUNCTIONS[name] ?? [];
      const typed = args.map((a, i) => {
        const kind = kinds[i];
        const wide = kind === 'u64' || (kind === 'addr' && width === 'i64');
        return wide ? BigInt(a) : Number(a);
      });
      const fn = instance.exports[name] as (...a: (number | bigint)[]) => number | undefined;
      return fn(...typed) ?? -1;
    },
    writeSize: (at, value) => {
      if (size === 8) view().setBigUint64(at, BigInt(value), true);
      else view().setUint32(at, value, true);
    },
    readSize: (at) => (size === 8 ? Number(view().getBigUint64(at, true)) : view().getUint32(at, true)),
  };
}

/** Reads the NUL-terminated string at `at`. */
export function cString(bytes: Uint8Array, at: number): string {
  const end = bytes.indexOf(0, at);
  return new TextDecoder().decode(bytes.subarray(at, end));
}
