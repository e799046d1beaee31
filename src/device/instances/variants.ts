// What an instance runs: its module compiled for its limits, with unexported mutable globals exported so snapshots carry them.
import { ServiceError } from '../../errors.js';
import { ModuleFormatError } from '../../wasm/binary-reader.js';
import { exportMutableGlobals } from '../../wasm/export-globals.js';
import { UnsupportedInstructionError } from '../../wasm/instructions.js';
import { instrumentModule, MemoryCapError } from '../../wasm/instrument.js';
import type { Instrumentation } from '../../wasm/instrument.js';
import type { CompiledVariant, ModuleStore, ResolvedModule, VariantLimits } from '../module-store.js';

/** Rewritten module variants kept for instances. */
const MAX_INSTANCE_VARIANTS = 64;

/**
 * Modules that have no unexported mutable global share the module store's variants; the others are
 * rewritten and compiled here, once per module and limits.
 */
export class InstanceVariants {
  readonly #modules: ModuleStore;
  /** Rewritten modules (unexported mutable globals exported), by module id and limits. */
  readonly #variants = new Map<string, CompiledVariant>();

  constructor(modules: ModuleStore) {
    this.#modules = modules;
  }

  async variantFor(resolved: ResolvedModule, limits: VariantLimits): Promise<CompiledVariant> {
    const { module } = resolved;
    const key = `${module.id}:${limits.memoryCapPages}:${limits.fuel ? 'fuel' : ''}`;
    const cached = this.#variants.get(key);
    if (cached !== undefined) return cached;
    let rewritten: { bytes: Uint8Array; instrumentation: Instrumentation | null };
    try {
      const exported = exportMutableGlobals(module.bytes);
      if (exported.added.length === 0) return await this.#modules.compiledFor(resolved, limits);
      rewritten = instrumentModule(exported.bytes, { memoryCapPages: module.info.memory === null ? null : limits.memoryCapPages, fuel: limits.fuel });
    } catch (err) {
      if (err instanceof UnsupportedInstructionError || err instanceof ModuleFormatError) {
        throw new ServiceError('WASM64_UNSUPPORTED_INSTRUCTION', `the module cannot be prepared for an instance: ${err.message}`);
      }
      if (err instanceof MemoryCapError) throw new ServiceError('WASM64_MEMORY_TOO_LARGE', err.message);
      throw err;
    }
    const variant = { module: await WebAssembly.compile(rewritten.bytes), instrumentation: rewritten.instrumentation, reuse: null };
    module.stats.compiles++;
    this.#variants.set(key, variant);
    // A few variants are enough: instances of one module usually share their limits.
    if (this.#variants.size > MAX_INSTANCE_VARIANTS) this.#variants.delete(this.#variants.keys().next().value ?? key);
    return variant;
  }
}
