import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { captureLogs } from './support/log-capture.js';

describe('createLogger', () => {
  it('redacts credentials wherever a request or the config puts them', () => {
    const logs = captureLogs();
    const log = createLogger({ logLevel: 'info' }, logs);
    const token = 'Bearer secret-token-0123456789';
    log.info({ req: { headers: { authorization: token, host: 'h' } } }, 'a serialized request');
    log.info({ headers: { authorization: token } }, 'raw headers');
    log.info({ request: { headers: { authorization: token } } }, 'a request');
    log.info({ config: { apiTokens: ['secret-token-0123456789'], port: 1 } }, 'the config');
    log.info({ authorization: token }, 'a header on its own');
    expect(logs.lines).toHaveLength(5);
    expect(logs.text()).not.toContain('secret-token');
    expect(logs.lines[0]).toMatchObject({ req: { headers: { authorization: '[redacted]', host: 'h' } } });
    expect(logs.lines[3]).toMatchObject({ config: { apiTokens: '[redacted]', port: 1 } });
  });

  it('redacts under any key, leaves everything else as it was, and never changes the caller\'s object', () => {
    const logs = captureLogs();
    const log = createLogger({ logLevel: 'info' }, logs);
    const logged = {
      upstream: { headers: { authorization: 'Bearer secret-token-0123456789', accept: 'x' }, status: 502 },
      config: { apiTokens: ['secret-token-0123456789'], headers: { authorization: 'Basic c2VjcmV0LXRva2Vu' } },
      job: 'j1',
      count: 3,
    };
    const before = structuredClone(logged);
    log.info(logged, 'nested');
    expect(logs.lines[0]).toMatchObject({
      upstream: { headers: { authorization: '[redacted]', accept: 'x' }, status: 502 },
      config: { apiTokens: '[redacted]', headers: { authorization: '[redacted]' } },
      job: 'j1',
      count: 3,
    });
    expect(logs.text()).not.toContain('secret-token');
    expect(logs.text()).not.toContain('c2VjcmV0LXRva2Vu');
    expect(logged).toEqual(before);
  });

  it('logs at the configured level', () => {
    const logs = captureLogs();
    const log = createLogger({ logLevel: 'warn' }, logs);
    log.info('hidden');
    log.warn('shown');
    expect(logs.lines.map((l) => l.msg)).toEqual(['shown']);
  });
});
