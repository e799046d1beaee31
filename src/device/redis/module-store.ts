// Modules shared by every replica: bytes in Redis under their sha256, validated and compiled once per replica.
import type { Redis } from 'ioredis';
import { ServiceError } from '../../errors.js';
import type { ModuleCatalog } from '../job-device.js';
import type { ModuleSource } from '../module-source.js';
import { moduleId } from '../module-store.js';
import type { CompiledVariant, ModuleStore, ModuleStoreStats, ResolvedModule, StoredModule, VariantLimits } from '../module-store.js';

/**
 * share(P, id, bytes, maxModules, now) → 1: stores the bytes (content-addressed, so writing them again
 * changes nothing), marks the module used now, and evicts the least recently used beyond `maxModules`.
 */
const SHARE = `
local P, id, bytes, max, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local index = P .. ':modules'
redis.call('SET', P .. ':module:' .. id, bytes)
redis.call('ZADD', index, now, id)
while redis.call('ZCARD', index) > max do
  local oldest = redis.call('ZRANGE', index, 0, 0)[1]
  redis.call('ZREM', index, oldest)
  redis.call('DEL', P .. ':module:' .. oldest)
end
return 1
`;

type ShareCommand = (prefix: string, id: string, bytes: Buffer, maxModules: number, now: number) => Promise<number>;

/**
 * Wraps this replica's ModuleStore (validation, import checks, compiled variants, its own LRU) and shares
 * its modules: a module uploaded to any replica is stored in Redis once; a replica asked for a module it
 * has not seen reads the bytes, checks they hash to the id, and adds them to its own store (compiling
 * them once). Redis keeps at most `maxModules` modules (MAX_MODULES), the least recently used evicted first.
 */
export class SharedModuleStore implements ModuleCatalog {
  readonly #local: ModuleStore;
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #maxModules: number;
  readonly #share: ShareCommand;
  /** Modules being read from Redis, so that concurrent first uses read and compile once. */
  readonly #fetching = new Map<string, Promise<StoredModule | undefined>>();

  constructor(local: ModuleStore, redis: Redis, prefix: string, maxModules: number) {
    this.#local = local;
    this.#redis = redis;
    this.#prefix = prefix;
    this.#maxModules = maxModules;
    redis.defineCommand('wasm64_share_module', { numberOfKeys: 0, lua: SHARE });
    this.#share = (redis as unknown as Record<'wasm64_share_module', ShareCommand>).wasm64_share_module.bind(redis);
  }

  get maxModuleBytes(): number {
    return this.#local.maxModuleBytes;
  }

  get defaultModule(): StoredModule {
    return this.#local.defaultModule;
  }

  /** Validates and stores `bytes` here, and shares them with every replica. */
  async add(bytes: Uint8Array): Promise<ResolvedModule> {
    const resolved = await this.#local.add(bytes);
    const { module } = resolved;
    await this.#share(this.#prefix, module.id, Buffer.from(module.bytes.buffer, module.bytes.byteOffset, module.bytes.byteLength), this.#maxModules, Date.now());
    return resolved;
  }

  /** The module with this id: compiled here already, or read from Redis and compiled once; undefined if no replica has it. */
  async get(id: string): Promise<StoredModule | undefined> {
    const here = this.#local.get(id);
    if (here !== undefined) return here;
    let fetching = this.#fetching.get(id);
    if (fetching === undefined) {
      fetching = this.#fetch(id).finally(() => this.#fetching.delete(id));
      this.#fetching.set(id, fetching);
    }
    return fetching;
  }

  /** The module a job names (as ModuleStore.resolve), looking in Redis for ids this replica has not seen. */
  async resolve(source: ModuleSource): Promise<ResolvedModule> {
    switch (source.kind) {
      case 'default':
        return { module: this.#local.defaultModule, fresh: false };
      case 'bytes':
        return this.add(source.bytes);
      case 'id': {
        const compiledHere = this.#local.get(source.id) !== undefined;
        const module = await this.get(source.id);
        if (module === undefined) throw new ServiceError('WASM64_MODULE_NOT_FOUND', `no module has the id "${source.id}"; upload it again with POST /~wasm64@1.0/modules`);
        // Used now: the least recently used modules are the ones Redis lets go.
        if (module.id !== this.#local.defaultModule.id) await this.#redis.zadd(`${this.#prefix}:modules`, 'XX', Date.now(), module.id);
        return { module, fresh: !compiledHere };
      }
    }
  }

  compiledFor(resolved: ResolvedModule, limits: VariantLimits): Promise<CompiledVariant> {
    return this.#local.compiledFor(resolved, limits);
  }

  /** This replica's counters: modules compiled here, hits and misses of its jobs. */
  stats(): ModuleStoreStats {
    return this.#local.stats();
  }

  async #fetch(id: string): Promise<StoredModule | undefined> {
    const bytes = await this.#redis.getBuffer(`${this.#prefix}:module:${id}`);
    if (bytes === null) return undefined;
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // The address is the content's hash: bytes that do not hash to it are not the module asked for.
    if (moduleId(view) !== id) throw new Error(`the bytes stored for module ${id} do not hash to it`);
    return (await this.#local.add(view)).module;
  }
}
