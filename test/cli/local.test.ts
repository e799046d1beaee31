// `run --local` with no server anywhere: the built CLI runs the job on its own pool, in its own process.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { compileWat } from '../../src/wasm/wat.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli-process.js';
import { freePort } from '../support/free-port.js';

// Pointing the CLI at a port where nothing listens proves that --local never needs a server.
let env: Record<string, string>;
beforeAll(async () => {
  env = { JOB_DISPATCHER_URL: `http://127.0.0.1:${await freePort()}` };
});

const local = (...args: string[]) => runCli(['wasm64@1.0', 'run', '--local', ...args], env);

describe('job-dispatcher wasm64@1.0 run --local', () => {
  it('runs add(2,3) and prints completed 5', async () => {
    expect(await local('--code', 'add(2,3)')).toEqual({ code: 0, signal: null, stdout: 'completed 5\n', stderr: '' });
  });

  it('runs a memory64 function with --function and --param, exact beyond 2^53', async () => {
    expect((await local('--function', 'fib', '--param', '92')).stdout).toBe('completed 7540113804746346429\n');
  });

  it('prints the same job JSON as the API with --json', async () => {
    const result = await local('--code', 'divmod(17,5)', '--json');
    expect(result.code).toBe(0);
    const job = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(job).toMatchObject({ status: 'completed', function: 'divmod', parameters: [17, 5], result: 3, results: [3, 2] });
    expect(job.module_id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(typeof job.duration_ms).toBe('number');
  });

  it('exits 1 for a trap', async () => {
    const result = await local('--code', 'div(1,0)');
    expect(result).toMatchObject({ code: 1, stderr: '' });
    expect(result.stdout).toMatch(/^failed WASM64_TRAP: \S/);
  });

  it('stops a job at --timeout: failed WASM64_TIMEOUT, exit 1', async () => {
    const result = await local('--code', 'fib_rec(60)', '--timeout', '200ms', '--json');
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'failed', timeout_ms: 200, error: { code: 'WASM64_TIMEOUT' } });
  });

  it('exits 2 with the service error code for an invalid call', async () => {
    for (const [args, code] of [
      [['--code', 'add(2'], 'WASM64_CALL_SYNTAX'],
      [['--code', 'nope()'], 'WASM64_UNKNOWN_FUNCTION'],
      [['--function', 'add', '--param', 'x', '--param', '1'], 'WASM64_PARAMETER_TYPE'],
    ] as const) {
      const result = await local(...args);
      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toMatch(new RegExp(`^job-dispatcher: ${code}: `));
    }
  });

  it('runs a wasm32 module of your own, from WebAssembly text or from a binary', async () => {
    const wat = 'test/fixtures/cli/geometry32.wat';
    expect(await local('--module', wat, '--code', 'minmax(9,-2)')).toMatchObject({ code: 0, stdout: 'completed -2 9\n' });
    expect((await local('--module', wat, '--function', 'area', '--param', '1.5', '--param', '4')).stdout).toBe('completed 6\n');
    const binary = join(await mkdtemp(join(tmpdir(), 'cli-module-')), 'geometry32.wasm');
    await writeFile(binary, await compileWat(await readFile(wat, 'utf8')));
    expect((await local('--module', binary, '--code', 'square(12)')).stdout).toBe('completed 144\n');
    const trap = await local('--module', binary, '--code', 'crash()');
    expect(trap.code).toBe(1);
    expect(trap.stdout).toMatch(/^failed WASM64_TRAP: /);
    const unknown = await local('--module', binary, '--code', 'add(1,2)');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^job-dispatcher: WASM64_UNKNOWN_FUNCTION: /);
  });

  it('meters --fuel in process too', async () => {
    const result = await local('--code', 'fib_rec(30)', '--fuel', '1000');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^failed WASM64_FUEL_EXHAUSTED: /);
  });

  it('refuses a module file that is missing or is not WebAssembly, exit 2', async () => {
    const missing = await local('--module', 'test/fixtures/cli/missing.wat', '--code', 'f()');
    expect(missing).toMatchObject({ code: 2, stdout: '' });
    expect(missing.stderr).toMatch(/^job-dispatcher: cannot read the module test\/fixtures\/cli\/missing\.wat \(ENOENT\)/);
    const text = await local('--module', 'package.json', '--code', 'f()');
    expect(text).toMatchObject({ code: 2, stdout: '' });
    expect(text.stderr).toMatch(/^job-dispatcher: WASM64_INVALID_WAT: /);
  });

  it('works through npx, as the package bin', async () => {
    // An outer `npx -p node@24` leaves npm_config_package set, which would make this npx fetch that package too.
    const { npm_config_package: _outer, ...inherited } = process.env;
    const { stdout } = await promisify(execFile)('npx', ['--no', 'job-dispatcher', 'wasm64@1.0', 'run', '--local', '--code', 'mul(6,7)'], {
      env: { ...inherited, ...env },
    });
    expect(stdout).toBe('completed 42\n');
  });
});
