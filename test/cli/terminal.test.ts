// The CLI at a terminal: the spinner on a real pseudo-terminal, and Ctrl-C during a wait.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli, spawnCli } from '../support/cli-process.js';
import { startServer } from '../support/server-process.js';
import type { ServerProcess } from '../support/server-process.js';

// One thread, so that the endless job below holds the whole pool of this server and nothing else's.
let server: ServerProcess;
beforeAll(async () => {
  server = await startServer({ POOL_THREADS: '1' });
});
afterAll(async () => {
  await server.stop();
});

describe('at a terminal', () => {
  it('draws a spinner with the job and elapsed time on a TTY, then erases it', async () => {
    // util-linux `script` runs the command on a pseudo-terminal, as a user's shell would.
    const command = `${process.execPath} ${CLI} wasm64@1.0 run --code 'add(2,3)' --wait --server ${server.url}`;
    const { stdout } = await promisify(execFile)('script', ['-qec', command, '/dev/null']);
    expect(stdout).toMatch(/⠋ job [0-9a-f-]{36} \d+\.\ds/);
    expect(stdout).toContain('\r\x1b[2K');
    expect(stdout.endsWith('completed 5\r\n')).toBe(true);
  });

  it('Ctrl-C during a wait stops waiting, leaves the job running and says how to check on it', async () => {
    // fib_rec(60) runs far longer than this test; the server's shutdown ends it.
    const id = (await runCli(['wasm64@1.0', 'run', '--code', 'fib_rec(60)', '--server', server.url])).stdout.trim();
    const waiting = spawnCli(['wasm64@1.0', 'wait', id, '--server', server.url]);
    // Once the server has answered one status request for the job, the CLI is in its wait loop.
    const polled = (): boolean => server.logs.some((l) => l.msg === 'request completed' && l.url === `/~wasm64@1.0/status/${id}`);
    for (let i = 0; i < 500 && !polled(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(polled()).toBe(true);
    waiting.child.kill('SIGINT');
    const result = await waiting.done;
    expect(result).toMatchObject({ code: 130, stdout: '' });
    expect(result.stderr).toContain(`stopped waiting; job ${id} keeps running on the server`);
    expect(result.stderr).toContain(`job-dispatcher wasm64@1.0 status ${id} --server ${server.url}`);
    expect(await runCli(['wasm64@1.0', 'status', id, '--server', server.url])).toMatchObject({ code: 0, stdout: 'running\n' });
  });
});
