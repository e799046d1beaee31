// The CLI at a terminal (a real pseudo-terminal from util-linux `script`): the spinner, and Ctrl-C during a wait.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../support/cli-process.js';
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

/** The CLI's command line as a shell would run it on the terminal that `script` gives it. */
const onTerminal = (args: string): string[] => ['-qec', `${process.execPath} ${CLI} ${args} --server ${server.url}`, '/dev/null'];

describe('at a terminal', () => {
  it('draws a spinner with the job and elapsed time, then erases it before the result', async () => {
    const { stdout } = await promisify(execFile)('script', onTerminal("wasm64@1.0 run --code 'add(2,3)' --wait"));
    expect(stdout).toMatch(/⠋ job [0-9a-f-]{36} \d+\.\ds/);
    expect(stdout).toContain('\r\x1b[2K');
    expect(stdout.endsWith('completed 5\r\n')).toBe(true);
  });

  it('Ctrl-C during a wait stops waiting, leaves the job running and says how to check on it', async () => {
    // fib_rec(60) runs far longer than this test; it is cancelled at the end.
    const id = (await runCli(['wasm64@1.0', 'run', '--code', 'fib_rec(60)', '--server', server.url])).stdout.trim();
    const terminal = spawn('script', onTerminal(`wasm64@1.0 wait ${id}`), { stdio: ['pipe', 'pipe', 'inherit'] });
    let screen = '';
    const exited = new Promise<number | null>((resolve) => terminal.once('close', resolve));
    // The spinner is drawn once the wait has begun; then the user presses Ctrl-C (ETX, which the terminal turns into SIGINT).
    await new Promise<void>((resolve) => {
      terminal.stdout.on('data', (d: Buffer) => {
        screen += d.toString();
        if (screen.includes(`job ${id}`)) resolve();
      });
    });
    terminal.stdin.write('\x03');
    expect(await exited).toBe(130);
    expect(screen).toContain(`stopped waiting; job ${id} keeps running on the server`);
    expect(screen).toContain(`job-dispatcher wasm64@1.0 status ${id} --server ${server.url}`);
    expect(await runCli(['wasm64@1.0', 'status', id, '--server', server.url])).toMatchObject({ code: 0, stdout: 'running\n' });
    expect((await runCli(['wasm64@1.0', 'cancel', id, '--server', server.url])).code).toBe(0);
  });
});

describe('against a server that does not hold status requests (WAIT_MAX_SECONDS=0)', () => {
  it('wait still ends with the result, polling with a backoff', async () => {
    const eager = await startServer({ POOL_THREADS: '1', WAIT_MAX_SECONDS: '0' });
    try {
      const result = await runCli(['wasm64@1.0', 'run', '--code', 'fib_rec(27)', '--wait', '--server', eager.url]);
      expect(result).toMatchObject({ code: 0, stdout: 'completed 196418\n', stderr: '' });
    } finally {
      await eager.stop();
    }
  });
});
