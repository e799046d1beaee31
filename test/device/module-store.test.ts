import { beforeAll, describe, expect, it } from 'vitest';
import { ServiceError } from '../../src/errors.js';
import { moduleSource } from '../../src/device/module-source.js';
import { loadDefaultModule, ModuleStore } from '../../src/device/module-store.js';
import type { ModuleStoreOptions, StoredModule } from '../../src/device/module-store.js';
import { enableMemory64 } from '../../src/wasm/features.js';
import { compileWat } from '../../src/wasm/wat.js';

let defaultModule: StoredModule;
beforeAll(async () => {
  enableMemory64();
  defaultModule = await loadDefaultModule();
});

const store = (options: Partial<ModuleStoreOptions> = {}) => new ModuleStore({
  defaultModule, maxModules: 10, maxBytes: 1 << 20, maxModuleBytes: 1 << 16, maxMemoryPages: 16_384, ...options,
});
const numbered = async (n: number) => compileWat(`(module (memory 1) (func (export "f") (result i32) (drop (memory.grow (i32.const 1))) (i32.const ${n})))`);

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ServiceError) return err.code;
    throw err;
  }
  return 'resolved';
}

describe('ModuleStore', () => {
  it('compiles concurrent uploads of the same bytes once', async () => {
    const modules = store();
    const bytes = await numbered(1);
    const results = await Promise.all([modules.add(bytes), modules.add(bytes), modules.add(bytes)]);
    expect(new Set(results.map((r) => r.module)).size).toBe(1);
    expect(results.filter((r) => r.fresh)).toHaveLength(1);
    expect(modules.stats()).toMatchObject({ modules: 1, compiles: defaultModule.stats.compiles + 1 });
  });

  it('evicts the least recently used module beyond its byte bound, never the default module', async () => {
    const sizes = (await numbered(0)).length;
    const modules = store({ maxBytes: sizes * 2 });
    const [a, b, c] = [await numbered(1), await numbered(2), await numbered(3)];
    const first = (await modules.add(a)).module;
    const second = (await modules.add(b)).module;
    expect(modules.get(first.id)).toBe(first); // touched: now b is the least recently used
    await modules.add(c);
    expect(modules.get(second.id)).toBeUndefined();
    expect(modules.get(first.id)).toBe(first);
    expect(modules.stats()).toMatchObject({ modules: 2, bytes: sizes * 2, evictions: 1 });
    expect(modules.get(defaultModule.id)).toBe(defaultModule);
  });

  it('compiles a variant per memory limit and fuel once, and counts later jobs as hits', async () => {
    const modules = store();
    const resolved = await modules.add(await numbered(7));
    const limits = { memoryCapPages: 4, fuel: false };
    const first = await modules.compiledFor(resolved, limits);
    expect(first.module).not.toBe(resolved.module.compiled);
    expect(first.instrumentation?.status).toBe('__wasm64_status');
    expect(await modules.compiledFor({ ...resolved, fresh: false }, limits)).toBe(first);
    const metered = await modules.compiledFor({ ...resolved, fresh: false }, { memoryCapPages: 4, fuel: true });
    expect(metered.instrumentation?.fuel).toBe('__wasm64_fuel');
    expect(resolved.module.stats).toEqual({ compiles: 3, hits: 1, misses: 2 });
  });

  it('plans instance reuse per variant when asked to, keyed by module and limits', async () => {
    const wat = (n: number) => compileWat(`(module (memory (export "m") 1) (func (export "f") (result i32) (drop (memory.grow (i32.const 1))) (i32.const ${n})))`);
    const reusing = store({ reuseInstances: true });
    const resolved = await reusing.add(await wat(1));
    const id = resolved.module.id;
    // The capped memory.grow reports through the rewriter's status global, metering through its fuel global:
    // both are exported, so they are reset too.
    expect((await reusing.compiledFor(resolved, { memoryCapPages: 4, fuel: false })).reuse).toEqual({ key: `${id}:4:`, plan: { memories: ['m'], globals: ['__wasm64_status'] } });
    expect((await reusing.compiledFor(resolved, { memoryCapPages: 4, fuel: true })).reuse)
      .toEqual({ key: `${id}:4:fuel`, plan: { memories: ['m'], globals: ['__wasm64_status', '__wasm64_fuel'] } });
    const fresh = store();
    expect((await fresh.compiledFor(await fresh.add(await wat(2)), { memoryCapPages: 4, fuel: false })).reuse).toBeNull();
  });

  it('refuses what it cannot run with the codes a client can act on', async () => {
    const modules = store({ maxModuleBytes: 100, maxMemoryPages: 2 });
    expect(await codeOf(modules.add(new Uint8Array(200)))).toBe('WASM64_MODULE_TOO_LARGE');
    expect(await codeOf(modules.add(new TextEncoder().encode('no wasm here')))).toBe('WASM64_INVALID_MODULE');
    expect(await codeOf(modules.add(await compileWat('(module (memory 3))')))).toBe('WASM64_MEMORY_TOO_LARGE');
    expect(await codeOf(modules.add(await compileWat('(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))))')))).toBe('WASM64_UNRESOLVED_IMPORT');
    expect(await codeOf(modules.resolve({ kind: 'id', id: `sha256:${'0'.repeat(64)}` }))).toBe('WASM64_MODULE_NOT_FOUND');
    expect(modules.stats().modules).toBe(0);
  });

  it('accepts the imports an import check vouches for', async () => {
    const modules = store({ importChecks: new Map([['env', (imported) => (imported.name === 'ok' ? undefined : 'only env.ok is provided')]]) });
    expect((await modules.add(await compileWat('(module (import "env" "ok" (func)))'))).fresh).toBe(true);
    const refused = modules.add(await compileWat('(module (import "env" "nope" (func)))'));
    await expect(refused).rejects.toThrow(/env\.nope \(function\): only env\.ok is provided/);
  });
});

describe('moduleSource', () => {
  it('decodes base64 (standard and URL-safe, with line breaks) and refuses anything else', async () => {
    const bytes = await numbered(1);
    const standard = Buffer.from(bytes).toString('base64');
    expect(await moduleSource({ module: standard.replace(/(.{16})/g, '$1\n') }, undefined, 1 << 16)).toEqual({ kind: 'bytes', bytes: new Uint8Array(bytes) });
    expect(await moduleSource({ module: Buffer.from(bytes).toString('base64url') }, undefined, 1 << 16)).toEqual({ kind: 'bytes', bytes: new Uint8Array(bytes) });
    expect(await codeOf(moduleSource({ module: 'a' }, undefined, 1 << 16))).toBe('WASM64_INVALID_MODULE');
    expect(await codeOf(moduleSource({ module: standard }, undefined, 10))).toBe('WASM64_MODULE_TOO_LARGE');
    expect(await codeOf(moduleSource({ module_id: `sha256:${'a'.repeat(64)}` }, bytes, 1 << 16))).toBe('WASM64_MODULE_CONFLICT');
    expect(await moduleSource({ module_id: 'A'.repeat(64) }, undefined, 1 << 16)).toEqual({ kind: 'id', id: `sha256:${'a'.repeat(64)}` });
    expect(await moduleSource({}, undefined, 1 << 16)).toEqual({ kind: 'default' });
  });
});
