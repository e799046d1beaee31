// Loads and validates the service's configuration; the only module that reads process.env.
import { availableParallelism } from 'node:os';
import { DEVICE_DEFAULTS } from './device/defaults.js';

/** Thrown for an invalid environment variable; the message names it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

interface Setting<T> {
  env: string;
  description: string;
  default: (env: Env) => T;
  parse: (raw: string, env: string) => T;
}

/** A setting whose type is what its parser returns: the Config type below is read off these. */
const setting = <T>(entry: Setting<T>): Setting<T> => entry;

function integer(min: number, max: number): (raw: string, name: string) => number {
  return (raw, name) => {
    const value = Number(raw.trim());
    if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    }
    return value;
  };
}

function flag(raw: string, name: string): boolean {
  const value = raw.trim().toLowerCase();
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(raw)}`);
}

function oneOf<T extends string>(values: readonly T[]): (raw: string, name: string) => T {
  return (raw, name) => {
    const value = raw.trim() as T;
    if (!values.includes(value)) throw new ConfigError(`${name} must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
    return value;
  };
}

/** `true` (trust every proxy), `false`, or how many proxy hops to trust: what Fastify's trustProxy takes. */
function trustProxy(raw: string, name: string): boolean | number {
  const value = raw.trim().toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^\d+$/.test(value) && Number(value) <= 100) return Number(value) === 0 ? false : Number(value);
  throw new ConfigError(`${name} must be true, false or a number of proxy hops (0 to 100), got ${JSON.stringify(raw)}`);
}

// RFC 6750 token68 characters; 16 or more of them, so that a token cannot be guessed in a few tries.
const TOKEN = /^[A-Za-z0-9\-._~+/]{16,}=*$/;

/** A comma-separated list of tokens; the message never repeats a token, since it may reach a log. */
function tokens(raw: string, name: string): string[] {
  const list = raw.split(',').map((t) => t.trim());
  list.forEach((token, i) => {
    if (!TOKEN.test(token)) {
      throw new ConfigError(`${name} must be a comma-separated list of tokens of 16 or more characters (A-Z a-z 0-9 - . _ ~ + /); entry ${i + 1} is not`);
    }
  });
  return list;
}

/** A WebAssembly page: memory limits are whole pages. */
const WASM_PAGE = 65_536;

/** A redis:// or rediss:// URL (credentials allowed); the message never repeats it, since it may hold a password. */
function redisUrl(raw: string, name: string): string {
  const value = raw.trim();
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name} must be a URL such as redis://127.0.0.1:6379 (or rediss:// for TLS)`);
  }
  if ((url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '') {
    throw new ConfigError(`${name} must be a redis:// or rediss:// URL with a host, such as redis://127.0.0.1:6379`);
  }
  return value;
}

function keyPrefix(raw: string, name: string): string {
  const value = raw.trim();
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(value)) throw new ConfigError(`${name} must be 1 to 64 of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(raw)}`);
  return value;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Every setting, in the order the README's configuration table lists them. */
export const SETTINGS = {
  host: setting({ env: 'HOST', description: 'Address to listen on', default: () => '127.0.0.1', parse: (raw) => raw.trim() }),
  port: setting({ env: 'PORT', description: 'TCP port to listen on (0 picks a free one)', default: () => 8080, parse: integer(0, 65535) }),
  logLevel: setting({ env: 'LOG_LEVEL', description: 'pino log level', default: () => 'info', parse: oneOf(LOG_LEVELS) }),
  /** Worker threads in the evaluation pool. */
  poolThreads: setting({
    env: 'POOL_THREADS',
    description: 'Worker threads that run wasm (default: available cores)',
    default: () => availableParallelism(),
    parse: integer(1, 256),
  }),
  /** Jobs that may wait for a thread before runs are refused with 429. */
  poolMaxQueue: setting({
    env: 'POOL_MAX_QUEUE',
    description: 'Jobs that may wait for a thread; beyond it runs get 429',
    default: () => 10_000,
    parse: integer(1, 10_000_000),
  }),
  /** Largest request body in bytes. */
  bodyLimit: setting({
    env: 'BODY_LIMIT',
    description: 'Largest request body in bytes',
    default: () => 16 * 1024 * 1024,
    parse: integer(1024, 1024 * 1024 * 1024),
  }),
  /** `timeout_ms` of a job that sets none. */
  jobTimeoutMs: setting({
    env: 'DEFAULT_TIMEOUT_MS',
    description: 'timeout_ms of a job that sets none',
    default: () => 30_000,
    parse: integer(1, 24 * 3600 * 1000),
  }),
  /** Largest `timeout_ms` a job may ask for. */
  jobTimeoutMaxMs: setting({
    env: 'MAX_TIMEOUT_MS',
    description: 'Largest timeout_ms a job may ask for',
    default: () => 300_000,
    parse: integer(1, 24 * 3600 * 1000),
  }),
  /** How long a finished job is kept. */
  jobTtlMs: setting({
    env: 'JOB_TTL_SECONDS',
    description: 'How long a finished job is kept, in seconds',
    default: () => 3_600_000,
    parse: (raw, name) => integer(1, 30 * 24 * 3600)(raw, name) * 1000,
  }),
  /** Most jobs kept at once; the oldest finished ones make room, live ones are never dropped. */
  jobStoreMax: setting({
    env: 'MAX_JOBS',
    description: 'Most jobs kept at once (the oldest finished are evicted first)',
    default: () => 100_000,
    parse: integer(1, 10_000_000),
  }),
  /** Longest a request may wait for a job (`?wait=`, `Prefer: wait=`), in seconds. */
  waitMaxSeconds: setting({
    env: 'WAIT_MAX_SECONDS',
    description: 'Longest a request may wait for a job (?wait=, Prefer: wait=)',
    default: () => 60,
    parse: integer(0, 3600),
  }),
  /** Requests that may wait for jobs at once; beyond it waits answer at once. */
  waitMaxClients: setting({
    env: 'WAIT_MAX_CLIENTS',
    description: 'Requests that may wait for jobs at once',
    default: () => DEVICE_DEFAULTS.maxWaiters,
    parse: integer(0, 1_000_000),
  }),
  /** Bearer tokens that may call the API; empty: no authentication. */
  apiTokens: setting({
    env: 'API_TOKENS',
    description: 'Comma-separated bearer tokens; when set, every route but health and metrics needs one',
    default: () => [],
    parse: tokens,
  }),
  /** Requests one client may make per window; 0: no rate limit. */
  rateLimitMax: setting({
    env: 'RATE_LIMIT_MAX',
    description: 'Requests one client may make per window (0: no limit)',
    default: () => 0,
    parse: integer(0, 1_000_000_000),
  }),
  rateLimitWindowMs: setting({
    env: 'RATE_LIMIT_WINDOW_MS',
    description: 'The rate limit window in milliseconds',
    default: () => 60_000,
    parse: integer(1, 86_400_000),
  }),
  /** Whether (or across how many proxy hops) X-Forwarded-For names the client. */
  trustProxy: setting({
    env: 'TRUST_PROXY',
    description: 'Trust X-Forwarded-For for the client address: true, false, or a hop count',
    default: () => false,
    parse: trustProxy,
  }),
  /** How long running jobs may finish after SIGTERM/SIGINT before they are cancelled. */
  shutdownGraceMs: setting({
    env: 'SHUTDOWN_GRACE_MS',
    description: 'How long running jobs may finish after SIGTERM/SIGINT before they are cancelled',
    // Inside `docker stop`'s default 10 s, with room to cancel the rest and close.
    default: () => 8_000,
    parse: integer(0, 3_600_000),
  }),
  /** Largest module, in bytes of wasm, a job or an upload may bring. */
  moduleMaxBytes: setting({
    env: 'MAX_MODULE_BYTES',
    description: 'Largest module (wasm bytes) a job or an upload may bring; beyond it 413',
    default: () => 8 * 1024 * 1024,
    parse: integer(8, 1024 * 1024 * 1024),
  }),
  /** Most modules the module store keeps (the least recently used make room). */
  moduleStoreMax: setting({
    env: 'MAX_MODULES',
    description: 'Most modules kept in the module store (least recently used evicted first)',
    default: () => 1000,
    parse: integer(1, 1_000_000),
  }),
  /** Most bytes of modules the module store keeps. */
  moduleStoreMaxBytes: setting({
    env: 'MAX_MODULE_STORE_BYTES',
    description: 'Most bytes of modules kept in the module store',
    default: () => 256 * 1024 * 1024,
    parse: integer(8, 64 * 1024 * 1024 * 1024),
  }),
  /** `memory_limit` of a job that sets none, in bytes. */
  jobMemoryLimit: setting({
    env: 'DEFAULT_MEMORY_LIMIT',
    description: 'memory_limit of a job that sets none: the most bytes its linear memory may grow to',
    default: () => 128 * 1024 * 1024,
    parse: integer(WASM_PAGE, 16 * 1024 * 1024 * 1024),
  }),
  /** Largest `memory_limit` a job may ask for, in bytes. */
  jobMemoryLimitMax: setting({
    env: 'MAX_MEMORY_LIMIT',
    description: 'Largest memory_limit a job may ask for, in bytes',
    default: () => 1024 * 1024 * 1024,
    parse: integer(WASM_PAGE, 16 * 1024 * 1024 * 1024),
  }),
  /** `fuel` of a job that sets none; 0 runs such jobs unmetered. */
  jobFuel: setting({
    env: 'DEFAULT_FUEL',
    description: 'fuel of a job that sets none (0: such jobs run unmetered)',
    default: () => 0,
    parse: integer(0, Number.MAX_SAFE_INTEGER),
  }),
  /** Largest `fuel` a job may ask for. */
  jobFuelMax: setting({
    env: 'MAX_FUEL',
    description: 'Largest fuel a job may ask for',
    default: () => Number.MAX_SAFE_INTEGER,
    parse: integer(1, Number.MAX_SAFE_INTEGER),
  }),
  /** Bytes kept of a job's stdout, of its stderr, and of a result read from memory. */
  outputLimit: setting({
    env: 'OUTPUT_LIMIT',
    description: 'Bytes kept of a job\'s stdout, of its stderr, and of a result read from memory; the rest is cut and flagged `truncated`',
    default: () => DEVICE_DEFAULTS.outputLimit,
    parse: integer(0, 256 * 1024 * 1024),
  }),
  /** Let a thread reset and reuse an instance between jobs of a module whose whole state it can reset. */
  reuseInstances: setting({
    env: 'REUSE_INSTANCES',
    description: 'Reset and reuse a thread\'s instance of a module between jobs instead of instantiating it afresh, where the whole state it can hold is reset (see "Instance reuse"); false: a new instance every job',
    default: () => true,
    parse: flag,
  }),
  /** Threads that hold live instances, each a single-thread lane. */
  instanceLanes: setting({
    env: 'INSTANCE_LANES',
    description: 'Threads that hold live instances (AO processes), besides POOL_THREADS; each instance is pinned to one',
    default: () => 2,
    parse: integer(1, 256),
  }),
  /** Instances kept, resident or evicted. */
  instanceMax: setting({
    env: 'MAX_INSTANCES',
    description: 'Most instances kept, resident or evicted to a snapshot; beyond it POST /instances answers 409',
    default: () => 1000,
    parse: integer(1, 1_000_000),
  }),
  /** Instances resident on lanes at once. */
  instanceLiveMax: setting({
    env: 'MAX_LIVE_INSTANCES',
    description: 'Most instances resident on lanes; beyond it the least recently used idle one is evicted to a snapshot',
    default: () => 64,
    parse: integer(1, 1_000_000),
  }),
  /** Bytes of memory of resident instances. */
  instanceLiveMaxBytes: setting({
    env: 'MAX_LIVE_INSTANCE_BYTES',
    description: 'Most bytes of memory of resident instances; beyond it, the same eviction',
    default: () => 1024 * 1024 * 1024,
    parse: integer(WASM_PAGE, 1024 * 1024 * 1024 * 1024),
  }),
  /** Calls between two checkpoints of an instance. */
  instanceCheckpointMessages: setting({
    env: 'INSTANCE_CHECKPOINT_MESSAGES',
    description: 'Calls an instance runs between two checkpoints of its state (what a trap or timeout rolls back to, then replays)',
    default: () => 1000,
    parse: integer(1, 1_000_000),
  }),
  /** Where jobs live: this process's memory (one replica), or Redis shared by every replica. */
  store: setting({
    env: 'STORE',
    description: 'Where jobs live: memory (this process) or redis (shared by every replica; see REDIS_URL)',
    default: () => 'memory',
    parse: oneOf(['memory', 'redis'] as const),
  }),
  /** The Redis server of `store: 'redis'`. */
  redisUrl: setting({
    env: 'REDIS_URL',
    description: 'The Redis server of STORE=redis (redis:// or rediss://)',
    default: () => 'redis://127.0.0.1:6379',
    parse: redisUrl,
  }),
  /** Prefix of every Redis key, so that several deployments can share one Redis. */
  redisPrefix: setting({
    env: 'REDIS_PREFIX',
    description: 'Prefix of every Redis key (deployments sharing one Redis use different ones)',
    default: () => 'wasm64',
    parse: keyPrefix,
  }),
  /** How long a replica's lock on a running job lasts without renewal; a dead replica's jobs fail after about twice this. */
  redisLockMs: setting({
    env: 'REDIS_LOCK_MS',
    description: 'How long a replica holds a running job without renewing its lock; a killed replica\'s jobs fail within about twice this',
    default: () => 30_000,
    parse: integer(1000, 3_600_000),
  }),
} satisfies Record<string, Setting<unknown>>;

/** The service's configuration: one field per setting above, typed as its parser returns it. */
export type Config = { [K in keyof typeof SETTINGS]: (typeof SETTINGS)[K] extends Setting<infer T> ? T : never };

/** Pairs of settings where the first must not exceed the second. */
const AT_MOST: [keyof Config, keyof Config][] = [
  ['jobTimeoutMs', 'jobTimeoutMaxMs'],
  ['jobMemoryLimit', 'jobMemoryLimitMax'],
  ['jobFuel', 'jobFuelMax'],
  ['moduleMaxBytes', 'moduleStoreMaxBytes'],
];

/** Reads the configuration from `env`; throws ConfigError naming the first invalid variable. */
export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const entries = Object.entries(SETTINGS).map(([key, entry]: [string, Setting<unknown>]) => {
    const raw = env[entry.env];
    const value = raw === undefined || raw === '' ? entry.default(env) : entry.parse(raw, entry.env);
    return [key, value];
  });
  const config = { ...(Object.fromEntries(entries) as unknown as Config), ...overrides };
  for (const [lower, upper] of AT_MOST) {
    if (Number(config[lower]) > Number(config[upper])) {
      throw new ConfigError(`${SETTINGS[lower].env} (${String(config[lower])}) must not exceed ${SETTINGS[upper].env} (${String(config[upper])})`);
    }
  }
  return config;
}
