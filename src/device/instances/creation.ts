// What a new instance is made of, from POST /instances: its module (or its snapshot's), limits, WASI and init.
import { ServiceError } from '../../errors.js';
import type { InstanceCreate } from '../../schemas/instance.js';
import type { InstanceSetup } from '../../wasm/instance.js';
import { memoryHash } from '../../wasm/instance-state.js';
import { addressType, exportedMemory } from '../../wasm/memory-io.js';
import { createWasi, WasiOptionsError } from '../../wasm/wasi/preview1.js';
import type { PackedState } from '../../worker/instance-protocol.js';
import { WASI_PROGRAM_NAME } from '../call-plan.js';
import { resolveLimits } from '../limits.js';
import type { LimitSettings } from '../limits.js';
import { moduleSource } from '../module-source.js';
import type { CompiledVariant, ModuleStore, ResolvedModule, StoredModule } from '../module-store.js';
import { checkSnapshotAlone, snapshotModuleId, stateOf } from './snapshot.js';
import type { InstanceVariants } from './variants.js';

export interface PreparedInstance {
  module: StoredModule;
  variant: CompiledVariant;
  setup: InstanceSetup;
  memoryLimit: number;
  /** What runs at creation; null for none (and for a restore). */
  init: string | null;
  /** Its first checkpoint: empty, or the snapshot's state. */
  state: PackedState;
}

interface CreationContext {
  modules: ModuleStore;
  limits: LimitSettings;
  outputLimit: number;
}

/** Resolves and checks everything a creation names; throws ServiceError for what it gets wrong. Nothing is created. */
export async function prepareInstance(body: InstanceCreate, context: CreationContext, variants: InstanceVariants): Promise<PreparedInstance> {
  const snapshot = body.snapshot;
  if (snapshot !== undefined) checkSnapshotAlone(body);
  const resolved = await resolveModule(body, context.modules);
  const options = snapshot === undefined ? body : { memory_limit: snapshot.memory_limit, fuel: snapshot.fuel ?? undefined };
  const limits = resolveLimits({ memory_limit: options.memory_limit, fuel: options.fuel }, context.limits, resolved.module);
  const variant = await variants.variantFor(resolved, { memoryCapPages: limits.memoryCapPages, fuel: limits.fuel !== null });
  const module = resolved.module;
  const wasi = snapshot?.wasi ?? {
    args: [WASI_PROGRAM_NAME, ...(body.wasi?.args ?? [])],
    env: body.wasi?.env ?? {},
    deterministic: body.wasi?.deterministic ?? true,
    seed: body.wasi?.seed ?? 0,
  };
  try {
    createWasi({ ...wasi, stdin: new Uint8Array(0), outputLimit: 0 });
  } catch (err) {
    if (err instanceof WasiOptionsError) throw new ServiceError('WASM64_WASI_OPTIONS', err.message);
    throw err;
  }
  const memory = exportedMemory(module.info);
  const setup: InstanceSetup = {
    ...wasi,
    addressType: addressType(module.info),
    instrumentation: variant.instrumentation,
    fuel: limits.fuel,
    outputLimit: context.outputLimit,
    ...(memory === undefined ? {} : { memory }),
  };
  const init = snapshot === undefined ? initOf(body, module) : null;
  const state = snapshot === undefined ? { memory: null, memoryBytes: 0, hash: memoryHash(null), globals: [], messages: 0 } : stateOf(snapshot, context.limits.memoryLimitMax);
  return { module, variant, setup, memoryLimit: limits.memoryLimit, init, state };
}

/** The module a creation names: a snapshot's must be stored or sent beside it, and be the one it was taken of. */
async function resolveModule(body: InstanceCreate, modules: ModuleStore): Promise<ResolvedModule> {
  const named = body.module !== undefined || body.wat !== undefined || body.module_id !== undefined;
  if (body.snapshot === undefined || named) {
    const resolved = await modules.resolve(await moduleSource(body, undefined, modules.maxModuleBytes));
    if (body.snapshot !== undefined && resolved.module.id !== snapshotModuleId(body.snapshot)) {
      throw new ServiceError('WASM64_INSTANCE_SNAPSHOT', `the snapshot was taken of ${body.snapshot.module_id}, not of the module sent (${resolved.module.id})`);
    }
    return resolved;
  }
  return modules.resolve({ kind: 'id', id: snapshotModuleId(body.snapshot) });
}

function initOf(body: InstanceCreate, module: StoredModule): string | null {
  const init = body.init ?? (module.exportsByName.has('_initialize') ? '_initialize' : 'none');
  if (init === 'none') return null;
  if (!module.exportsByName.has(init)) throw new ServiceError('WASM64_UNKNOWN_FUNCTION', `"init": "${init}", but the module exports no ${init}`);
  return init;
}
