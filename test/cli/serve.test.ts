// `job-dispatcher serve` starts the real service, which the CLI then talks to, and stops on SIGTERM.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { CLI, runCli } from '../support/cli-process.js';

describe('job-dispatcher serve', () => {
  it('serves jobs on the port given, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--port', '0'], {
      env: { ...process.env, POOL_THREADS: '1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        void exited.then((code) => reject(new Error(`serve exited with ${code}`)));
        createInterface({ input: child.stdout }).on('line', (line) => {
          const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
          if (match?.[1]) resolve(match[1]);
        });
      });
      expect(await runCli(['wasm64@1.0', 'run', '--code', 'add(2,3)', '--wait', '--server', url])).toMatchObject({ code: 0, stdout: 'completed 5\n' });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('refuses an invalid --port as a usage error (2), and an invalid PORT as the service does (1)', async () => {
    const flag = await runCli(['serve', '--port', 'eighty']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/--port <port>' argument 'eighty' is invalid/);
    const env = await runCli(['serve'], { PORT: 'eighty' });
    expect(env.code).toBe(1);
    expect(env.stderr).toMatch(/invalid configuration: PORT/);
  });
});
