// STORE, REDIS_URL, REDIS_PREFIX and REDIS_LOCK_MS: validated at start, with messages naming the variable.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('store configuration', () => {
  it('defaults to memory, with a local Redis URL ready for STORE=redis', () => {
    expect(loadConfig({})).toMatchObject({ store: 'memory', redisUrl: 'redis://127.0.0.1:6379', redisPrefix: 'wasm64', redisLockMs: 30_000 });
    expect(loadConfig({ STORE: 'redis', REDIS_URL: 'rediss://user:pw@redis.internal:6380/2', REDIS_PREFIX: 'prod:eu', REDIS_LOCK_MS: '5000' })).toMatchObject({
      store: 'redis',
      redisUrl: 'rediss://user:pw@redis.internal:6380/2',
      redisPrefix: 'prod:eu',
      redisLockMs: 5000,
    });
  });

  it.each([
    [{ STORE: 'postgres' }, /^STORE must be one of memory, redis/],
    [{ REDIS_URL: 'localhost:6379' }, /^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ REDIS_URL: 'http://127.0.0.1:6379' }, /^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ REDIS_URL: 'not a url' }, /^REDIS_URL must be a URL/],
    [{ REDIS_PREFIX: 'has space' }, /^REDIS_PREFIX must be/],
    [{ REDIS_LOCK_MS: '10' }, /^REDIS_LOCK_MS must be an integer from 1000/],
  ])('refuses %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('never repeats a Redis password in its message', () => {
    expect(() => loadConfig({ REDIS_URL: 'http://:hunter2@host' })).not.toThrow(/hunter2/);
  });
});
