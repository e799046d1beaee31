import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, SETTINGS } from '../src/config.js';

const TOKEN_A = 'tok-aaaaaaaaaaaaaaaaaaaa';
const TOKEN_B = 'tok-bbbbbbbbbbbbbbbbbbbb';

function errorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe('loadConfig', () => {
  it('has a default for every setting', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ host: '127.0.0.1', port: 8080, apiTokens: [], rateLimitMax: 0, trustProxy: false, shutdownGraceMs: 8_000 });
    expect(Object.keys(config).sort()).toEqual(Object.keys(SETTINGS).sort());
  });

  it('reads every variable', () => {
    const config = loadConfig({
      API_TOKENS: ` ${TOKEN_A} , ${TOKEN_B}`,
      RATE_LIMIT_MAX: '100',
      RATE_LIMIT_WINDOW_MS: '1000',
      TRUST_PROXY: '2',
      SHUTDOWN_GRACE_MS: '0',
    });
    expect(config).toMatchObject({ apiTokens: [TOKEN_A, TOKEN_B], rateLimitMax: 100, rateLimitWindowMs: 1000, trustProxy: 2, shutdownGraceMs: 0 });
    expect(loadConfig({ JOB_TTL_SECONDS: '90', MAX_JOBS: '500', DEFAULT_TIMEOUT_MS: '1000', MAX_TIMEOUT_MS: '2000' })).toMatchObject({
      jobTtlMs: 90_000,
      jobStoreMax: 500,
      jobTimeoutMs: 1000,
      jobTimeoutMaxMs: 2000,
    });
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '0' }).trustProxy).toBe(false);
  });

  it.each([
    ['PORT', '99999'],
    ['PORT', 'eighty'],
    ['LOG_LEVEL', 'loud'],
    ['POOL_THREADS', '0'],
    ['POOL_MAX_QUEUE', '-1'],
    ['BODY_LIMIT', '1.5'],
    ['JOB_TTL_SECONDS', '0'],
    ['MAX_JOBS', 'many'],
    ['DEFAULT_TIMEOUT_MS', '10s'],
    ['MAX_TIMEOUT_MS', '0'],
    ['WAIT_MAX_SECONDS', '3601'],
    ['WAIT_MAX_CLIENTS', '-1'],
    ['API_TOKENS', 'short'],
    ['API_TOKENS', `${TOKEN_A},`],
    ['API_TOKENS', `${TOKEN_A} ${TOKEN_B}`],
    ['RATE_LIMIT_MAX', 'lots'],
    ['RATE_LIMIT_WINDOW_MS', '0'],
    ['TRUST_PROXY', 'yes'],
    ['SHUTDOWN_GRACE_MS', '-5'],
  ])('refuses %s=%s with a message naming the variable', (name, value) => {
    expect(errorOf({ [name]: value }).message).toMatch(new RegExp(`^${name} `));
  });

  it('refuses a default timeout above the maximum, naming both variables', () => {
    expect(errorOf({ DEFAULT_TIMEOUT_MS: '5000', MAX_TIMEOUT_MS: '1000' }).message).toMatch(/^DEFAULT_TIMEOUT_MS .*MAX_TIMEOUT_MS/);
  });

  it('never repeats a token in its message', () => {
    const message = errorOf({ API_TOKENS: `${TOKEN_A},has space inside it!` }).message;
    expect(message).not.toContain(TOKEN_A);
    expect(message).not.toContain('has space');
  });

  it('is documented: the README configuration table lists exactly the settings, in order', async () => {
    const readme = await readFile('README.md', 'utf8');
    const section = readme.split(/^## Configuration$/m)[1]?.split(/^## /m)[0] ?? '';
    const documented = [...section.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(documented).toEqual(Object.values(SETTINGS).map((s) => s.env));
  });
});

describe('the server with a bad configuration', () => {
  it('exits 1 and names the variable on stderr', () => {
    const result = spawnSync(process.execPath, ['dist/server.js'], {
      env: { ...process.env, PORT: '0', RATE_LIMIT_WINDOW_MS: 'soon' },
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/invalid configuration: RATE_LIMIT_WINDOW_MS /);
    expect(result.stdout).toBe('');
  });
});
