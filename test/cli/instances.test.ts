// The CLI's instance commands against a real listening server: create, message, list, show, snapshot, restore, delete.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli-process.js';
import { startServer } from '../support/server-process.js';
import type { ServerProcess } from '../support/server-process.js';

const UUID_LINE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$/;
let server: ServerProcess;
let env: Record<string, string>;
beforeAll(async () => {
  server = await startServer();
  env = { JOB_DISPATCHER_URL: server.url };
});
afterAll(async () => {
  await server.stop();
});

const cli = (...args: string[]) => runCli(args, env);
const message = (id: string, json: string) => cli('wasm64@1.0', 'run', '--instance', id, '--message', json, '--wait');

describe('job-dispatcher wasm64@1.0 instances', () => {
  it('creates an instance, sends it messages, snapshots it, restores the snapshot and deletes it', async () => {
    const created = await cli('wasm64@1.0', 'instances', 'create', 'test/fixtures/ao/process.wat', '--seed', 'cli');
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout).toMatch(UUID_LINE);
    const id = created.stdout.trim();
    const first = await message(id, '{"Action":"Eval"}');
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toMatch(/^completed \{"count":1,"log_bytes":18,"hash":"[0-9a-f]{16}","random":"[0-9a-f]{16}","time_us":\d+\}\n$/);
    expect((await cli('wasm64@1.0', 'instances', 'show', id)).stdout).toMatch(new RegExp(`^${id}  resident  1 messages  131072 bytes  sha256:[0-9a-f]{64}\\n$`));
    expect((await cli('wasm64@1.0', 'instances', 'list')).stdout).toContain(`${id}  resident  1 messages`);

    const file = join(await mkdtemp(join(tmpdir(), 'instances-')), 'snapshot.json');
    expect(await cli('wasm64@1.0', 'instances', 'snapshot', id, '--out', file)).toMatchObject({ code: 0, stdout: '' });
    const next = await message(id, '{"Action":"Next"}');
    const restored = (await cli('wasm64@1.0', 'instances', 'create', '--snapshot', file)).stdout.trim();
    expect(await message(restored, '{"Action":"Next"}')).toEqual(next);

    expect(await cli('wasm64@1.0', 'instances', 'delete', id)).toMatchObject({ code: 0, stdout: `deleted ${id}\n` });
    expect(await cli('wasm64@1.0', 'instances', 'show', id)).toMatchObject({ code: 2, stderr: expect.stringContaining('WASM64_INSTANCE_NOT_FOUND') });
  });

  it('refuses a message without an instance, or one that is not JSON, as usage errors', async () => {
    expect(await cli('wasm64@1.0', 'run', '--message', '{}')).toMatchObject({ code: 2, stderr: expect.stringContaining('--instance') });
    expect(await cli('wasm64@1.0', 'run', '--instance', 'x', '--message', '{nope')).toMatchObject({ code: 2, stderr: expect.stringContaining('must be JSON') });
  });
});
