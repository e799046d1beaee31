// The built CLI run as a child process against a real listening server: stdout, stderr and exit codes.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli-process.js';
import { freePort } from '../support/free-port.js';
import { startServer } from '../support/server-process.js';
import { compileWat } from '../../src/wasm/wat.js';
import type { ServerProcess } from '../support/server-process.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
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

describe('job-dispatcher wasm64@1.0 run', () => {
  it('prints the job id, which status and wait then read', async () => {
    const run = await cli('wasm64@1.0', 'run', '--code', 'add(2,3)');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const id = run.stdout.trim();
    expect(id).toMatch(UUID);
    expect(await cli('wasm64@1.0', 'wait', id)).toMatchObject({ code: 0, stdout: 'completed 5\n', stderr: '' });
    expect(await cli('wasm64@1.0', 'status', id)).toMatchObject({ code: 0, stdout: 'completed 5\n', stderr: '' });
  });

  it('--wait prints the result, with no spinner when piped', async () => {
    expect(await cli('wasm64@1.0', 'run', '--code', 'add(2,3)', '--wait')).toEqual({ code: 0, signal: null, stdout: 'completed 5\n', stderr: '' });
  });

  it('--json prints the API answer: the accepted job, or with --wait the finished job', async () => {
    const accepted = await cli('wasm64@1.0', 'run', '--code', 'mul(6,7)', '--json');
    expect(accepted.code).toBe(0);
    const body = JSON.parse(accepted.stdout) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'queued', status_url: `/~wasm64@1.0/status/${String(body.id)}` });

    const finished = await cli('wasm64@1.0', 'run', '--code', 'mul(6,7)', '--wait', '--json');
    expect(finished.code).toBe(0);
    expect(JSON.parse(finished.stdout)).toMatchObject({ status: 'completed', function: 'mul', parameters: [6, 7], result: 42, results: [42] });
  });

  it('takes --function with repeated --param, negative and beyond 2^53, and prints every result', async () => {
    expect((await cli('wasm64@1.0', 'run', '-f', 'divmod', '-p', '7', '-p', '2', '-w')).stdout).toBe('completed 3 1\n');
    expect((await cli('wasm64@1.0', 'run', '--function', 'add', '--param', '9007199254740993', '--param', '1', '--wait')).stdout)
      .toBe('completed 9007199254740994\n');
    expect((await cli('wasm64@1.0', 'run', '--function', 'add', '--param', '-3', '--param', '1', '--wait')).stdout).toBe('completed -2\n');
    expect((await cli('wasm64@1.0', 'run', '--function', 'sqrt', '--param', '2.25', '--wait')).stdout).toBe('completed 1.5\n');
  });

  it('exits 1 for a failed job and prints its code and message', async () => {
    // The message after the code is the engine's own (V8's "divide by zero"), so only its presence is asserted.
    const trapLine = /^failed WASM64_TRAP: \S[^\n]*\n$/;
    const run = await cli('wasm64@1.0', 'run', '--code', 'div(1,0)', '--wait');
    expect(run).toMatchObject({ code: 1, stderr: '' });
    expect(run.stdout).toMatch(trapLine);
    const id = (await cli('wasm64@1.0', 'run', '--code', 'rem(1,0)')).stdout.trim();
    for (const command of ['wait', 'status']) {
      const result = await cli('wasm64@1.0', command, id);
      expect(result).toMatchObject({ code: 1, stderr: '' });
      expect(result.stdout).toMatch(trapLine);
    }
    const json = await cli('wasm64@1.0', 'status', id, '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ id, status: 'failed', error: { code: 'WASM64_TRAP' } });
  });

  it('exits 2 with the error code on stderr when the service refuses the request', async () => {
    for (const [args, code] of [
      [['run', '--code', 'add(2'], 'WASM64_CALL_SYNTAX'],
      [['run', '--code', 'nope(1)'], 'WASM64_UNKNOWN_FUNCTION'],
      [['run', '--function', 'add', '--param', '1'], 'WASM64_PARAMETER_COUNT'],
      [['run', '--function', 'add', '--param', '1.5', '--param', '1'], 'WASM64_PARAMETER_TYPE'],
      [['status', 'no-such-job'], 'WASM64_JOB_NOT_FOUND'],
      [['wait', 'no-such-job'], 'WASM64_JOB_NOT_FOUND'],
    ] as const) {
      const result = await cli('wasm64@1.0', ...args);
      expect(result, args.join(' ')).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr, args.join(' ')).toMatch(new RegExp(`^job-dispatcher: ${code}: `));
    }
  });

  it('accepts the device name with its tilde, and --server before or after the command', async () => {
    expect((await runCli(['~wasm64@1.0', 'run', '--code', 'add(1,1)', '--wait', '--server', server.url])).stdout).toBe('completed 2\n');
    expect((await runCli(['--server', server.url, 'wasm64@1.0', 'run', '--code', 'add(1,2)', '--wait'])).stdout).toBe('completed 3\n');
  });
});

describe('job-dispatcher wasm64@1.0 wait, cancel and list', () => {
  it('wait long-polls: one status request per 5 s the job runs, not a poll loop', async () => {
    const id = (await cli('wasm64@1.0', 'run', '--code', 'fib_rec(27)')).stdout.trim();
    expect(await cli('wasm64@1.0', 'wait', id)).toMatchObject({ code: 0, stdout: 'completed 196418\n' });
    const job = JSON.parse((await cli('wasm64@1.0', 'status', id, '--json')).stdout) as { created_at: string; finished_at: string };
    const statusRequests = server.logs.filter((l) => l.msg === 'request completed' && String(l.url).startsWith(`/~wasm64@1.0/status/${id}?wait=`));
    const waited = Date.parse(job.finished_at) - Date.parse(job.created_at);
    expect(statusRequests.length).toBeGreaterThanOrEqual(1);
    expect(statusRequests.length).toBeLessThanOrEqual(Math.ceil(waited / 5000) + 1);
  });

  it('cancel ends a running job, prints it and exits 0; cancelling it again is WASM64_JOB_FINISHED, exit 2', async () => {
    const id = (await cli('wasm64@1.0', 'run', '--code', 'fib_rec(60)')).stdout.trim();
    const cancelled = await cli('wasm64@1.0', 'cancel', id);
    expect(cancelled).toMatchObject({ code: 0, stderr: '' });
    expect(cancelled.stdout).toMatch(/^cancelled WASM64_CANCELLED: \S/);
    expect((await cli('wasm64@1.0', 'status', id)).code).toBe(1);
    const again = await cli('wasm64@1.0', 'cancel', id, '--json');
    expect(again).toMatchObject({ code: 2, stdout: '' });
    expect(again.stderr).toMatch(/^job-dispatcher: WASM64_JOB_FINISHED: /);
  });

  it('--timeout stops a job that runs too long: failed WASM64_TIMEOUT, exit 1', async () => {
    const result = await cli('wasm64@1.0', 'run', '--code', 'fib_rec(60)', '--timeout', '200ms', '--wait', '--json');
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'failed', timeout_ms: 200, error: { code: 'WASM64_TIMEOUT' } });
    const refused = await cli('wasm64@1.0', 'run', '--code', 'add(1,1)', '--timeout', '1000m');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^job-dispatcher: WASM64_TIMEOUT_TOO_LONG: /);
  });

  it('--idempotency-key returns the same job for the same call, and refuses another call', async () => {
    const key = `key-${Date.now()}`;
    const first = await cli('wasm64@1.0', 'run', '--code', 'add(4,4)', '--idempotency-key', key);
    const second = await cli('wasm64@1.0', 'run', '--code', 'add(4,4)', '--idempotency-key', key);
    expect(first.stdout).toMatch(UUID_LINE);
    expect(second.stdout).toBe(first.stdout);
    const other = await cli('wasm64@1.0', 'run', '--code', 'add(4,5)', '--idempotency-key', key);
    expect(other).toMatchObject({ code: 2, stdout: '' });
    expect(other.stderr).toMatch(/^job-dispatcher: WASM64_IDEMPOTENCY_MISMATCH: /);
  });

  it('list prints one line per job, newest first, filters by status, pages with a cursor on stderr', async () => {
    const ids: string[] = [];
    for (const code of ['sub(9,1)', 'sub(9,2)', 'sub(9,3)']) ids.push((await cli('wasm64@1.0', 'run', '--code', code, '--wait', '--json')).stdout);
    const [a, b, c] = ids.map((line) => (JSON.parse(line) as { id: string }).id);
    const page = await cli('wasm64@1.0', 'list', '--status', 'completed', '--limit', '2');
    expect(page.code).toBe(0);
    const lines = page.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${c}  \\S+Z  sub\\(9,3\\)  completed 6$`));
    expect(lines[1]).toMatch(new RegExp(`^${b}  \\S+Z  sub\\(9,2\\)  completed 7$`));
    const cursor = /^more: job-dispatcher wasm64@1.0 list --cursor (\S+)\n$/.exec(page.stderr)?.[1];
    expect(cursor).toBeDefined();
    const next = await cli('wasm64@1.0', 'list', '--status', 'completed', '--limit', '1', '--cursor', cursor!, '--json');
    expect(JSON.parse(next.stdout)).toMatchObject({ jobs: [{ id: a, status: 'completed', result: 8 }] });
    const failedOnly = JSON.parse((await cli('wasm64@1.0', 'list', '--status', 'failed', '--json')).stdout) as { jobs: { status: string }[] };
    expect(failedOnly.jobs.every((job) => job.status === 'failed')).toBe(true);
  });
});

describe('modules, fuel and memory limits', () => {
  const wat = 'test/fixtures/cli/geometry32.wat';

  it('run --module sends a WAT file as text and a binary as bytes, and runs it', async () => {
    expect(await cli('wasm64@1.0', 'run', '--module', wat, '--code', 'minmax(9,-2)', '--wait')).toMatchObject({ code: 0, stdout: 'completed -2 9\n' });
    const binary = join(await mkdtemp(join(tmpdir(), 'cli-module-')), 'geometry32.wasm');
    await writeFile(binary, await compileWat(await readFile(wat, 'utf8')));
    const job = await cli('wasm64@1.0', 'run', '--module', binary, '--function', 'area', '--param', '1.5', '--param', '4', '--wait', '--json');
    expect(JSON.parse(job.stdout)).toMatchObject({ status: 'completed', function: 'area', result: 6 });
  });

  it('modules add prints the module id; modules show describes it; run --module-id runs it', async () => {
    const added = await cli('wasm64@1.0', 'modules', 'add', wat);
    expect(added).toMatchObject({ code: 0, stderr: '' });
    const id = added.stdout.trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    const shown = await cli('wasm64@1.0', 'modules', 'show', id);
    expect(shown.stdout.split('\n')).toEqual(expect.arrayContaining([
      `${id}  128 bytes  memory i32, 1 to unbounded pages`, '  square(i32) -> i32', '  minmax(i32, i32) -> i32, i32', '  crash() -> ()',
    ]));
    expect(JSON.parse((await cli('wasm64@1.0', 'modules', 'show', id, '--json')).stdout)).toMatchObject({ module_id: id, memory: { index: 'i32' } });
    expect(await cli('wasm64@1.0', 'run', '--module-id', id, '--code', 'square(5)', '--wait')).toMatchObject({ code: 0, stdout: 'completed 25\n' });
  });

  it('refuses a module that is not WebAssembly and an unknown module id, exit 2', async () => {
    for (const [args, code] of [
      [['modules', 'add', 'package.json'], 'WASM64_INVALID_WAT'],
      [['run', '--module', 'package.json', '--code', 'f()'], 'WASM64_INVALID_WAT'],
      [['modules', 'show', `sha256:${'0'.repeat(64)}`], 'WASM64_MODULE_NOT_FOUND'],
      [['run', '--module-id', `sha256:${'0'.repeat(64)}`, '--code', 'f()'], 'WASM64_MODULE_NOT_FOUND'],
    ] as const) {
      const result = await cli('wasm64@1.0', ...args);
      expect(result, args.join(' ')).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr, args.join(' ')).toMatch(new RegExp(`^job-dispatcher: ${code}: `));
    }
  });

  it('--fuel meters the job: fuel_used when it is enough, WASM64_FUEL_EXHAUSTED (exit 1) when not', async () => {
    const enough = JSON.parse((await cli('wasm64@1.0', 'run', '--code', 'fib(30)', '--fuel', '100000', '--wait', '--json')).stdout) as Record<string, unknown>;
    expect(enough).toMatchObject({ status: 'completed', result: 832040, fuel: 100000 });
    expect(enough.fuel_used).toBeGreaterThan(0);
    const short = await cli('wasm64@1.0', 'run', '--code', 'fib_rec(30)', '--fuel', '1000', '--wait');
    expect(short.code).toBe(1);
    expect(short.stdout).toMatch(/^failed WASM64_FUEL_EXHAUSTED: /);
  });

  it('--memory-limit sets the job memory_limit', async () => {
    const job = await cli('wasm64@1.0', 'run', '--module', wat, '--code', 'square(3)', '--memory-limit', '128KiB', '--wait', '--json');
    expect(JSON.parse(job.stdout)).toMatchObject({ status: 'completed', result: 9, memory_limit: 131072 });
  });
});

describe('usage errors exit 2 with the message on stderr', () => {
  it.each([
    ['no call', ['wasm64@1.0', 'run'], /say what to run/],
    ['--param without --function', ['wasm64@1.0', 'run', '--param', '1'], /--param needs --function/],
    ['--code with --function', ['wasm64@1.0', 'run', '--code', 'add(1,2)', '--function', 'add'], /cannot be used with/],
    ['an unknown command', ['wasm64@1.0', 'frobnicate'], /unknown command 'frobnicate'/],
    ['an unknown device', ['wasm32@9', 'run'], /unknown command 'wasm32@9'/],
    ['an unknown option', ['wasm64@1.0', 'run', '--code', 'add(1,2)', '--colour'], /unknown option '--colour'/],
    ['a missing id', ['wasm64@1.0', 'status'], /missing required argument 'id'/],
    ['a server that is not a URL', ['--server', 'nowhere', 'wasm64@1.0', 'status', 'x'], /--server <url>' argument 'nowhere' is invalid/],
    ['a server that is not http', ['wasm64@1.0', 'status', 'x', '--server', 'ftp://127.0.0.1/'], /must start with http/],
    ['a timeout without a unit', ['wasm64@1.0', 'run', '--code', 'add(1,2)', '--timeout', '5'], /--timeout <duration>' argument '5' is invalid/],
    ['an unknown status to list', ['wasm64@1.0', 'list', '--status', 'done'], /Allowed choices are queued, running/],
    ['--module with --module-id', ['wasm64@1.0', 'run', '--module', 'x.wat', '--module-id', 'sha256:00', '--code', 'f()'], /cannot be used with/],
    ['a missing module file', ['wasm64@1.0', 'modules', 'add', 'test/fixtures/cli/missing.wasm'], /cannot read the module .*\(ENOENT\)/],
    ['a memory limit that is not a size', ['wasm64@1.0', 'run', '--code', 'add(1,2)', '--memory-limit', '16MB'], /--memory-limit <size>' argument '16MB' is invalid/],
    ['a list limit of 0', ['wasm64@1.0', 'list', '--limit', '0'], /--limit <count>' argument '0' is invalid/],
  ])('%s', async (_name, args, message) => {
    const result = await cli(...args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^job-dispatcher: /);
    expect(result.stderr).toMatch(message);
  });

  it('a bad JOB_DISPATCHER_URL is a usage error too', async () => {
    const result = await runCli(['wasm64@1.0', 'status', 'x'], { JOB_DISPATCHER_URL: 'not a url' });
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(/JOB_DISPATCHER_URL/);
  });

  it('no command prints the help on stderr', async () => {
    const result = await cli();
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(/^Usage: job-dispatcher /);
  });
});

describe('--help and --version', () => {
  it.each([
    [[]],
    [['wasm64@1.0']],
    [['wasm64@1.0', 'run']],
    [['wasm64@1.0', 'status']],
    [['wasm64@1.0', 'wait']],
    [['wasm64@1.0', 'cancel']],
    [['wasm64@1.0', 'list']],
    [['wasm64@1.0', 'modules', 'add']],
    [['wasm64@1.0', 'modules', 'show']],
    [['serve']],
  ])('%j --help prints usage on stdout and exits 0', async (args) => {
    const result = await cli(...args, '--help');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    // The device command's own usage names its alias too: `wasm64@1.0|~wasm64@1.0`.
    const path = args.length === 1 && args[0] === 'wasm64@1.0' ? 'wasm64@1.0|~wasm64@1.0' : args.join(' ');
    expect(result.stdout.startsWith(`Usage: job-dispatcher ${path}`.trimEnd() + ' ')).toBe(true);
  });

  it('run --help lists its options and the server option', async () => {
    const { stdout } = await cli('wasm64@1.0', 'run', '--help');
    for (const option of ['--code', '--function', '--param', '--wait', '--json', '--local', '--server']) expect(stdout).toContain(option);
  });

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
    expect(await cli('--version')).toMatchObject({ code: 0, stdout: `${version}\n` });
  });
});

describe('when no service answers', () => {
  it('exits 3 and says how to start one, from --server or JOB_DISPATCHER_URL', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    for (const result of [
      await runCli(['wasm64@1.0', 'run', '--code', 'add(2,3)', '--server', url]),
      await runCli(['wasm64@1.0', 'status', 'x'], { JOB_DISPATCHER_URL: url }),
    ]) {
      expect(result).toMatchObject({ code: 3, stdout: '' });
      expect(result.stderr).toContain(`no job-dispatcher service at ${url} (connect ECONNREFUSED`);
      expect(result.stderr).toContain('job-dispatcher serve');
      expect(result.stderr).toContain('--local');
    }
  });

  it('uses http://127.0.0.1:8080 by default', async () => {
    const result = await runCli(['wasm64@1.0', 'status', 'x']);
    // Something else may listen on 8080 on a developer's machine; only an absent or foreign server is exit 3.
    if (result.code === 3) expect(result.stderr).toContain('http://127.0.0.1:8080');
    else expect(result.stderr).toMatch(/WASM64_JOB_NOT_FOUND/);
  });

  it('exits 3 when what answers is not a job-dispatcher', async () => {
    const foreign: Server = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>nope</h1>'));
    await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
    const address = foreign.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    try {
      const result = await runCli(['wasm64@1.0', 'status', 'x', '--server', url]);
      expect(result).toMatchObject({ code: 3, stdout: '' });
      expect(result.stderr).toContain(`no job-dispatcher service at ${url} (it answered GET /~wasm64@1.0/status/x with 404 text/html)`);
    } finally {
      await new Promise((resolve) => foreign.close(resolve));
    }
  });
});

describe('a service that needs a token (API_TOKENS)', () => {
  it('sends JOB_DISPATCHER_TOKEN or --token as a Bearer token; without one it is WASM64_UNAUTHORIZED, exit 2, with a hint', async () => {
    const token = 'cli-test-token-0123456789';
    const guarded = await startServer({ API_TOKENS: token });
    try {
      const refused = await runCli(['wasm64@1.0', 'run', '--code', 'add(2,3)', '--server', guarded.url]);
      expect(refused).toMatchObject({ code: 2, stdout: '' });
      expect(refused.stderr).toMatch(/^job-dispatcher: WASM64_UNAUTHORIZED: /);
      expect(refused.stderr).toContain('JOB_DISPATCHER_TOKEN');
      const wrong = await runCli(['wasm64@1.0', 'run', '--code', 'add(2,3)', '--server', guarded.url, '--token', `${token}-wrong`]);
      expect(wrong.stderr).toMatch(/^job-dispatcher: WASM64_UNAUTHORIZED: /);
      expect(await runCli(['wasm64@1.0', 'run', '--code', 'add(2,3)', '--wait', '--server', guarded.url], { JOB_DISPATCHER_TOKEN: token }))
        .toMatchObject({ code: 0, stdout: 'completed 5\n', stderr: '' });
      expect(await runCli(['wasm64@1.0', 'list', '--json', '--server', guarded.url, '--token', token])).toMatchObject({ code: 0 });
    } finally {
      await guarded.stop();
    }
  });
});

describe('WASI programs: --arg, --env, --stdin, --stdin-file, --deterministic', () => {
  // test/fixtures/c/demo.c: prints argv and env, upper-cases stdin, reports on stderr, exits with EXIT_CODE.
  const demo = 'test/fixtures/c/demo.wasm';

  it("passes the program's stdout and stderr through, the job line on stderr, and runs _start with no call named", async () => {
    const result = await runCli(
      ['wasm64@1.0', 'run', '--module', demo, '--arg', 'one', '--arg', 'two words', '--env', 'NAME=ao', '-e', 'EXIT_CODE=3', '--stdin-file', '-', '--wait'],
      env,
      'abc\n',
    );
    expect(result).toMatchObject({
      code: 0,
      stdout: 'argc=3\nargv[0]=main.wasm\nargv[1]=one\nargv[2]=two words\nenv NAME=ao\nenv EXIT_CODE=3\nhello, ao!\nABC\n',
      stderr: 'read 4 bytes from stdin\ncompleted exit 3\n',
    });
    const json = JSON.parse((await cli('wasm64@1.0', 'run', '--module', demo, '--stdin', 'xy', '--wait', '--json')).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ status: 'completed', function: '_start', exit_code: 0, stdout: expect.stringContaining('XY') as unknown, stderr: 'read 2 bytes from stdin\n' });
  });

  it('sends a binary --stdin-file as base64 and the program reads its bytes', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'cli-stdin-')), 'in.bin');
    await writeFile(file, Buffer.from([0x61, 0xff, 0x62, 0x0a]));
    const result = await cli('wasm64@1.0', 'run', '--module', demo, '--stdin-file', file, '--wait');
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('read 4 bytes from stdin\ncompleted exit 0\n');
  });

  it('--deterministic with a --seed prints the same time and random bytes every run; another seed differs', async () => {
    const entropy = async (seed: string) => {
      const result = await cli('wasm64@1.0', 'run', '--module', demo, '--arg', '--entropy', '--deterministic', '--seed', seed, '--wait');
      expect(result.code).toBe(0);
      return /^time \d+\.\d+ random [0-9a-f]{16}$/m.exec(result.stdout)?.[0];
    };
    const first = await entropy('7');
    expect(first).toBeDefined();
    expect(await entropy('7')).toBe(first);
    expect(await entropy('ao-process')).not.toBe(first);
  });

  it('runs a WASI program with --local too, and refuses a bad --env as a usage error', async () => {
    const local = await cli('wasm64@1.0', 'run', '--local', '--module', demo, '--env', 'NAME=local', '--stdin', 'q');
    expect(local).toMatchObject({ code: 0, stderr: 'read 1 bytes from stdin\ncompleted exit 0\n' });
    expect(local.stdout).toContain('hello, local!\nQ');
    const bad = await cli('wasm64@1.0', 'run', '--module', demo, '--env', '=x');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('NAME=value');
  });
});
