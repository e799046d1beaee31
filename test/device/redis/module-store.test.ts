// The shared module store: bytes in Redis under their sha256, validated and compiled once per replica.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { createModuleStore } from '../../../src/compose.js';
import { loadDefaultModule } from '../../../src/device/module-store.js';
import type { StoredModule } from '../../../src/device/module-store.js';
import { SharedModuleStore } from '../../../src/device/redis/module-store.js';
import { enableMemory64 } from '../../../src/wasm/features.js';
import { loadFixture } from '../../support/fixtures.js';
import { startRedis } from '../../support/redis-server.js';
import type { RedisServer } from '../../support/redis-server.js';

let redis: RedisServer;
let clients: Redis[];
let defaultModule: StoredModule;
let fixture: StoredModule;

beforeAll(async () => {
  enableMemory64();
  redis = await startRedis();
  clients = [new Redis(redis.url), new Redis(redis.url)];
  [defaultModule, fixture] = await Promise.all([loadDefaultModule(), loadFixture('lifecycle')]);
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await redis.stop('SIGTERM');
});

/** A replica's store: its own ModuleStore, shared under `prefix`. */
const replica = (client: Redis, prefix: string, maxModules = 10): SharedModuleStore =>
  new SharedModuleStore(createModuleStore(loadConfig({}), defaultModule), client, prefix, maxModules);

describe('SharedModuleStore', () => {
  it('lets another replica run a module one replica stored, compiling it there once', async () => {
    const here = replica(clients[0]!, 'm1');
    const there = replica(clients[1]!, 'm1');
    expect(await there.get(fixture.id)).toBeUndefined();
    const added = await here.add(fixture.bytes);
    expect(added.fresh).toBe(true);
    const [first, second] = await Promise.all([there.get(fixture.id), there.get(fixture.id)]);
    expect(first).toBeDefined();
    expect(second).toBe(first);
    expect(first).not.toBe(added.module); // compiled there, from the shared bytes
    expect([...first!.exportsByName.keys()].sort()).toEqual(['add', 'boom', 'count', 'spin']);
    expect(there.stats().compiles).toBe(2); // the default module's, and this one's once despite two concurrent reads
    expect(await there.resolve({ kind: 'id', id: fixture.id })).toMatchObject({ module: first, fresh: false });
    expect(await clients[0]!.strlen(`m1:module:${fixture.id}`)).toBe(fixture.size);
    await expect(there.resolve({ kind: 'id', id: `sha256:${'0'.repeat(64)}` })).rejects.toMatchObject({ code: 'WASM64_MODULE_NOT_FOUND' });
  });

  it('keeps at most maxModules in Redis, the least recently used evicted first', async () => {
    const store = replica(clients[0]!, 'm2', 1);
    await store.add(fixture.bytes);
    await store.add(defaultModule.bytes);
    expect(await clients[0]!.zrange('m2:modules', '0', '-1')).toEqual([defaultModule.id]);
    expect(await clients[0]!.exists(`m2:module:${fixture.id}`)).toBe(0);
    expect(await replica(clients[1]!, 'm2').get(fixture.id)).toBeUndefined();
  });

  it('refuses bytes that do not hash to the id they are stored under', async () => {
    await clients[0]!.set(`m3:module:${fixture.id}`, Buffer.from('not the module'));
    const store = replica(clients[1]!, 'm3');
    await expect(store.get(fixture.id)).rejects.toThrow(/do not hash to it/);
    expect(store.stats().modules).toBe(0);
  });
});
