// Security: what a module can call into reaches no host file, socket, environment or process, and every WASI import fails closed.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PREVIEW1_FUNCTIONS } from '../../src/wasm/wasi/abi.js';
import { WasiExit } from '../../src/wasm/wasi/exit.js';
import { instantiateCalls } from '../support/wasi-calls.js';

/** Every source file whose code runs inside a worker on a module's behalf: the engine, its host imports, the worker entry. */
async function sandboxSources(): Promise<{ path: string; text: string }[]> {
  const files: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (path.endsWith('.ts')) files.push(path);
    }
  }
  await walk('src/wasm');
  files.push('src/worker/evaluate.ts', 'src/worker/protocol.ts', 'src/worker/instance.ts', 'src/worker/instance-protocol.ts');
  return Promise.all(files.map(async (path) => ({ path, text: await readFile(path, 'utf8') })));
}

// The only Node modules the sandbox code may use: flags, hashing and randomness, a clock, and compression (snapshots).
const ALLOWED_NODE_MODULES = new Set(['node:v8', 'node:crypto', 'node:perf_hooks', 'node:zlib']);

describe('the code a module can reach', () => {
  it('imports no file system, network, process or child-process module', async () => {
    const offences: string[] = [];
    for (const { path, text } of await sandboxSources()) {
      for (const [, name] of text.matchAll(/from '((?:node:)?[a-z_]+)'/g)) {
        const builtin = name!.startsWith('node:') ? name! : ['fs', 'net', 'http', 'https', 'child_process', 'dgram', 'dns', 'tls', 'os', 'worker_threads', 'cluster', 'vm', 'module', 'process'].includes(name!) ? `node:${name!}` : undefined;
        if (builtin !== undefined && !ALLOWED_NODE_MODULES.has(builtin)) offences.push(`${path} imports ${name!}`);
      }
      for (const pattern of [/process\.(?!hrtime\b)[a-zA-Z_]+/g, /\brequire\(/g, /\bimport\(/g, /\beval\(/g, /new Function\(/g, /globalThis\.[a-z]/gi]) {
        for (const [match] of text.matchAll(pattern)) offences.push(`${path} uses ${match}`);
      }
    }
    expect(offences).toEqual([]);
  });
});

describe('every WASI preview1 import, called with anything', () => {
  it.each(['i32', 'i64'] as const)('fails closed on %s pointers: no host environment, file or process reaches the module', async (width) => {
    const canary = `CANARY_${Math.random().toString(36).slice(2)}`;
    process.env.RELIABILITY_CANARY = canary;
    const names = Object.keys(PREVIEW1_FUNCTIONS);
    const w = await instantiateCalls(width, { args: ['job'], env: { ONLY: 'this' } });
    const memorySize = w.bytes().length;
    const value = fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 0, max: memorySize + 64 }), fc.constantFrom(0, 1, 2, 3, 4, 0xffffffff, 2 ** 31));
    let calls = 0;
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.array(value, { minLength: 9, maxLength: 9 }), (name, args) => {
        if (name === 'poll_oneoff' || name === 'proc_raise' || name === 'sched_yield') {
          // These can block the thread or end the run by design; they are exercised with sane arguments in the WASI tests.
          return;
        }
        const arity = PREVIEW1_FUNCTIONS[name]!.length;
        calls++;
        try {
          const errno = w.call(name, ...args.slice(0, arity));
          expect(Number.isInteger(errno)).toBe(true);
        } catch (err) {
          // proc_exit ends the run on purpose; an out-of-bounds pointer is a trap inside the module's own memory.
          if (!(err instanceof WasiExit) && !(err instanceof RangeError) && !(err instanceof WebAssembly.RuntimeError)) throw err;
        }
      }),
      { numRuns: 3000 },
    );
    expect(calls).toBeGreaterThan(1000);
    const memory = Buffer.from(w.bytes()).toString('latin1');
    expect(memory).not.toContain(canary);
    expect(memory).not.toContain(process.cwd());
    for (const key of ['PATH', 'HOME']) if (process.env[key]) expect(memory).not.toContain(process.env[key]);
    delete process.env.RELIABILITY_CANARY;
  });

  it.each(['i32', 'i64'] as const)('opens no path, even absolute ones or ones climbing out (%s pointers)', async (width) => {
    const w = await instantiateCalls(width, { args: [], env: {} });
    const paths = ['/etc/passwd', '../../../../etc/passwd', '.', '/', `${process.cwd()}/package.json`, 'package.json'];
    for (const path of paths) {
      const bytes = new TextEncoder().encode(path);
      w.bytes().set(bytes, 3000);
      for (let fd = 0; fd < 8; fd++) {
        // path_open(dirfd, dirflags, path, path_len, oflags, rights, rights_inheriting, fdflags, fd_out): never success (0).
        expect(w.call('path_open', fd, 0, 3000, bytes.length, 0, 0xffff, 0xffff, 0, 3500)).not.toBe(0);
        expect(w.call('path_filestat_get', fd, 0, 3000, bytes.length, 3600)).not.toBe(0);
        expect(w.call('path_readlink', fd, 3000, bytes.length, 3700, 64, 3800)).not.toBe(0);
        expect(w.call('fd_prestat_get', fd, 3900)).not.toBe(0);
      }
    }
    // With no preopened directory there is nothing to open a path against; sockets have no fd to accept on.
    for (let fd = 0; fd < 8; fd++) expect(w.call('sock_accept', fd, 0, 3500)).not.toBe(0);
  });
});
