// Validated, described and compiled modules, addressed by the sha256 of their bytes, in a bounded LRU store;
// and the compiled variants jobs run, instrumented for their limits, compiled once per module and limits.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ServiceError } from '../errors.js';
import { instrumentModule, MemoryCapError } from '../wasm/instrument.js';
import type { Instrumentation } from '../wasm/instrument.js';
import { UnsupportedInstructionError } from '../wasm/instructions.js';
import { planReuse } from '../wasm/reuse.js';
import type { ReusePlan } from '../wasm/reuse.js';
import { describeModule, ModuleFormatError } from '../wasm/module-info.js';
import type { ExportedFunction, ModuleImport, ModuleInfo } from '../wasm/module-info.js';
import { tooLarge } from './module-source.js';
import type { ModuleSource } from './module-source.js';

/** Compile counters: `misses` are jobs whose submission had to compile, `hits` jobs that reused compiled code. */
export interface CompileStats {
  compiles: number;
  hits: number;
  misses: number;
}

/** What a job runs: a compiled module, and how it was instrumented for the job's limits. */
export interface CompiledVariant {
  module: WebAssembly.Module;
  instrumentation: Instrumentation | null;
  /** How a thread may reuse its instance between jobs (src/wasm/reuse.ts); null: a fresh instance every job. */
  reuse: VariantReuse | null;
}

/** The key a thread keeps a reusable instance of this variant under, and what to reset between jobs. */
export interface VariantReuse {
  key: string;
  plan: ReusePlan;
}

export interface StoredModule {
  /** `sha256:<hex>` of the bytes. */
  id: string;
  info: ModuleInfo;
  /** The module as sent, compiled (at validation). */
  compiled: WebAssembly.Module;
  bytes: Uint8Array;
  size: number;
  exportsByName: ReadonlyMap<string, ExportedFunction>;
  /** Compiled variants by limits; at most MAX_VARIANTS, the oldest dropped first. */
  variants: Map<string, Promise<CompiledVariant>>;
  stats: CompileStats;
}

/** The limits a variant is built for. */
export interface VariantLimits {
  /** The job's memory limit in 64 KiB pages. */
  memoryCapPages: number;
  /** Metered for fuel. */
  fuel: boolean;
}

/**
 * Checks one import the module declares: undefined when the device links it, else why it cannot.
 * Keyed by import module name; WASI registers `wasi_snapshot_preview1` here.
 */
export type ImportCheck = (imported: ModuleImport, info: ModuleInfo) => string | undefined;

export interface ModuleStoreOptions {
  defaultModule: StoredModule;
  /** Most modules kept besides the default one. */
  maxModules: number;
  /** Most bytes of modules kept. */
  maxBytes: number;
  /** Largest single module. */
  maxModuleBytes: number;
  /** Largest memory limit any job may have, in pages: a module starting above it can never run. */
  maxMemoryPages: number;
  /** Import modules the device links, with their checks; any other import is refused. */
  importChecks?: ReadonlyMap<string, ImportCheck>;
  /** Plan instance reuse for variants whose state can be reset (REUSE_INSTANCES). */
  reuseInstances?: boolean;
}

export interface ModuleStoreStats extends CompileStats {
  modules: number;
  bytes: number;
  evictions: number;
}

/** Variants kept per module: jobs with many different limits on one module recompile past this. */
const MAX_VARIANTS = 8;

export function moduleId(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * Validates and compiles `bytes` with the engine (compiling is not executing: no wasm runs here), then
 * describes them. Throws ServiceError WASM64_INVALID_MODULE with the engine's message for invalid wasm.
 */
export async function prepareModule(bytes: Uint8Array): Promise<StoredModule> {
  let compiled: WebAssembly.Module;
  try {
    compiled = await WebAssembly.compile(bytes);
  } catch (err) {
    if (err instanceof WebAssembly.CompileError) throw new ServiceError('WASM64_INVALID_MODULE', err.message);
    throw err;
  }
  let info: ModuleInfo;
  try {
    info = describeModule(bytes);
  } catch (err) {
    if (err instanceof ModuleFormatError) throw new ServiceError('WASM64_INVALID_MODULE', `the module cannot be described: ${err.message}`);
    throw err;
  }
  return {
    id: moduleId(bytes),
    info,
    compiled,
    bytes,
    size: bytes.length,
    exportsByName: new Map(info.exports.map((e) => [e.name, e])),
    variants: new Map(),
    stats: { compiles: 1, hits: 0, misses: 0 },
  };
}

/** The device's embedded memory64 module (src/wasm/default-module.wat). */
export async function loadDefaultModule(): Promise<StoredModule> {
  const bytes = await readFile(new URL('../wasm/default-module.wasm', import.meta.url));
  return prepareModule(new Uint8Array(bytes));
}

/** A module resolved for a job; `fresh` when resolving it compiled it (so the job is a cache miss). */
export interface ResolvedModule {
  module: StoredModule;
  fresh: boolean;
}

export class ModuleStore {
  readonly #default: StoredModule;
  readonly #options: ModuleStoreOptions;
  /** Least recently used first. */
  readonly #modules = new Map<string, StoredModule>();
  /** Modules being validated and compiled, so concurrent uploads of the same bytes compile once. */
  readonly #pending = new Map<string, Promise<StoredModule>>();
  #bytes = 0;
  #evictions = 0;
  readonly #stats: CompileStats = { compiles: 0, hits: 0, misses: 0 };

  constructor(options: ModuleStoreOptions) {
    this.#options = options;
    this.#default = options.defaultModule;
    this.#stats.compiles = options.defaultModule.stats.compiles;
  }

  get maxModuleBytes(): number {
    return this.#options.maxModuleBytes;
  }

  get defaultModule(): StoredModule {
    return this.#default;
  }

  /** The module with this id (`sha256:<hex>`), or undefined; marks it recently used. */
  get(id: string): StoredModule | undefined {
    if (id === this.#default.id) return this.#default;
    const module = this.#modules.get(id);
    if (module !== undefined) {
      this.#modules.delete(id);
      this.#modules.set(id, module);
    }
    return module;
  }

  /**
   * Validates, describes, checks and stores `bytes`, or finds them stored already. Throws ServiceError:
   * WASM64_MODULE_TOO_LARGE, WASM64_INVALID_MODULE, WASM64_UNRESOLVED_IMPORT, WASM64_MEMORY_TOO_LARGE.
   */
  async add(bytes: Uint8Array): Promise<ResolvedModule> {
    if (bytes.length > this.#options.maxModuleBytes) throw tooLarge(bytes.length, this.#options.maxModuleBytes);
    const id = moduleId(bytes);
    const stored = this.get(id);
    if (stored !== undefined) return { module: stored, fresh: false };
    let pending = this.#pending.get(id);
    if (pending !== undefined) return { module: await pending, fresh: false };
    pending = this.#prepare(bytes);
    this.#pending.set(id, pending);
    try {
      const module = await pending;
      this.#insert(module);
      return { module, fresh: true };
    } finally {
      this.#pending.delete(id);
    }
  }

  /** The module a job names. Throws what `add` throws, and WASM64_MODULE_NOT_FOUND for an unknown id. */
  async resolve(source: ModuleSource): Promise<ResolvedModule> {
    switch (source.kind) {
      case 'default':
        return { module: this.#default, fresh: false };
      case 'bytes':
        return this.add(source.bytes);
      case 'id': {
        const module = this.get(source.id);
        if (module === undefined) throw new ServiceError('WASM64_MODULE_NOT_FOUND', `no module has the id "${source.id}"; upload it again with POST /~wasm64@1.0/modules`);
        return { module, fresh: false };
      }
    }
  }

  /**
   * The compiled module a job with these limits runs: instrumented (memory cap, fuel) and compiled the first
   * time, reused after. Counts the job as a hit or a miss. Throws ServiceError WASM64_UNSUPPORTED_INSTRUCTION
   * when the module needs instrumenting and cannot be, WASM64_MEMORY_TOO_LARGE when a memory starts above the cap.
   */
  async compiledFor(resolved: ResolvedModule, limits: VariantLimits): Promise<CompiledVariant> {
    const { module } = resolved;
    // A module without memory runs the same under any memory limit.
    const key = `${module.info.memory === null ? '-' : limits.memoryCapPages}:${limits.fuel ? 'fuel' : ''}`;
    let variant = module.variants.get(key);
    let compiles = false;
    if (variant === undefined) {
      const instrumented = this.#instrument(module, limits);
      compiles = instrumented.bytes !== module.bytes;
      const reuse = this.#planReuse(`${module.id}:${key}`, instrumented.bytes);
      variant = compiles
        ? this.#compile(module, instrumented.bytes).then((compiled) => ({ module: compiled, instrumentation: instrumented.instrumentation, reuse }))
        : Promise.resolve({ module: module.compiled, instrumentation: null, reuse });
      module.variants.set(key, variant);
      if (module.variants.size > MAX_VARIANTS) module.variants.delete(module.variants.keys().next().value ?? key);
      variant.catch(() => module.variants.delete(key));
    }
    const miss = resolved.fresh || compiles;
    for (const stats of [this.#stats, module.stats]) {
      if (miss) stats.misses++;
      else stats.hits++;
    }
    return variant;
  }

  stats(): ModuleStoreStats {
    return { ...this.#stats, modules: this.#modules.size, bytes: this.#bytes, evictions: this.#evictions };
  }

  async #prepare(bytes: Uint8Array): Promise<StoredModule> {
    const module = await prepareModule(bytes);
    this.#stats.compiles++;
    this.#checkImports(module.info);
    const memory = module.info.memory;
    if (memory !== null && memory.min > this.#options.maxMemoryPages) {
      throw new ServiceError(
        'WASM64_MEMORY_TOO_LARGE',
        `the module's memory starts at ${memory.min} pages (${memory.min * 65_536} bytes), above the most any job may have (${this.#options.maxMemoryPages * 65_536} bytes, MAX_MEMORY_LIMIT)`,
      );
    }
    return module;
  }

  #checkImports(info: ModuleInfo): void {
    const problems: string[] = [];
    for (const imported of info.imports) {
      const check = this.#options.importChecks?.get(imported.module);
      const problem = check === undefined ? 'not provided' : check(imported, info);
      if (problem !== undefined) problems.push(`${imported.module}.${imported.name} (${imported.kind}): ${problem}`);
    }
    if (problems.length > 0) {
      const linked = [...(this.#options.importChecks?.keys() ?? [])];
      throw new ServiceError(
        'WASM64_UNRESOLVED_IMPORT',
        `the module imports what this service does not provide: ${problems.slice(0, 50).join('; ')}${problems.length > 50 ? `; and ${problems.length - 50} more` : ''}. `
          + (linked.length === 0 ? 'Jobs are linked with no imports.' : `Jobs can import only from: ${linked.join(', ')}.`),
      );
    }
  }

  #instrument(module: StoredModule, limits: VariantLimits): { bytes: Uint8Array; instrumentation: Instrumentation | null } {
    try {
      return instrumentModule(module.bytes, { memoryCapPages: limits.memoryCapPages, fuel: limits.fuel });
    } catch (err) {
      if (err instanceof UnsupportedInstructionError || err instanceof ModuleFormatError) {
        throw new ServiceError('WASM64_UNSUPPORTED_INSTRUCTION', `the module cannot be instrumented for its limits: ${err.message}`);
      }
      if (err instanceof MemoryCapError) throw new ServiceError('WASM64_MEMORY_TOO_LARGE', err.message);
      throw err;
    }
  }

  #planReuse(key: string, bytes: Uint8Array): VariantReuse | null {
    if (this.#options.reuseInstances !== true) return null;
    const planned = planReuse(bytes);
    return 'plan' in planned ? { key, plan: planned.plan } : null;
  }

  async #compile(module: StoredModule, bytes: Uint8Array): Promise<WebAssembly.Module> {
    this.#stats.compiles++;
    module.stats.compiles++;
    return WebAssembly.compile(bytes);
  }

  #insert(module: StoredModule): void {
    this.#modules.set(module.id, module);
    this.#bytes += module.size;
    while (this.#modules.size > this.#options.maxModules || this.#bytes > this.#options.maxBytes) {
      const oldest = this.#modules.values().next();
      if (oldest.done === true || oldest.value === module) break;
      this.#modules.delete(oldest.value.id);
      this.#bytes -= oldest.value.size;
      this.#evictions++;
    }
  }
}
