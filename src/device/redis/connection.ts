// Connections to Redis: a clear error when it is not there at start, quiet reconnection while running.
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

/** Redis could not be reached (or answered wrongly) at start; the message says where and what to do. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
}

/** The URL with any password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an unparsable URL)';
  }
}

/**
 * Options every connection shares. Commands fail at once while Redis is away (no offline queue, no
 * retries), so a request gets a 503 instead of hanging; the connection itself retries every second.
 */
export function connectionOptions(name: string) {
  return {
    lazyConnect: true,
    connectionName: name,
    connectTimeout: 5000,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
  } satisfies RedisOptions;
}

/**
 * Opens a connection and waits until Redis answers, or throws RedisUnavailableError. Afterwards it
 * reconnects by itself; losing and regaining Redis is logged once each, never thrown.
 */
export async function connectRedis(url: string, name: string, logger: Logger, options: { enableOfflineQueue?: boolean } = {}): Promise<Redis> {
  const client = new Redis(url, { ...connectionOptions(name), ...options });
  let lastError: Error | undefined;
  client.on('error', (err: Error) => {
    lastError = err;
    logger.debug({ err, connection: name }, 'redis connection error');
  });
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    const reason = (lastError ?? (err as Error)).message;
    throw new RedisUnavailableError(
      `cannot reach Redis at ${redactUrl(url)} (${reason}). Start Redis there, point REDIS_URL at a running one, or run with STORE=memory.`,
    );
  }
  let lost = false;
  client.on('close', () => {
    if (lost) return;
    lost = true;
    logger.error({ connection: name }, 'lost the connection to Redis; reconnecting');
  });
  client.on('ready', () => {
    if (!lost) return;
    lost = false;
    logger.info({ connection: name }, 'reconnected to Redis');
  });
  return client;
}
