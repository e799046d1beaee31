import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { describeModule } from '../../../src/wasm/module-info.js';
import { WASI_MODULE, preview1ImportProblem } from '../../../src/wasm/wasi/abi.js';
import { catchExit } from '../../../src/wasm/wasi/exit.js';
import { createWasi } from '../../../src/wasm/wasi/preview1.js';
import type { WasiOptions } from '../../../src/wasm/wasi/preview1.js';

// The C fixtures are built by scripts/build-c-fixtures.sh (clang-14 + wasi-libc); their source is beside them.
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

async function runDemo(options: Partial<WasiOptions>) {
  const bytes = await readFile('test/fixtures/c/demo.wasm');
  const wasi = createWasi({ args: ['demo'], env: {}, stdin: new Uint8Array(0), outputLimit: 1 << 20, ...options });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { [WASI_MODULE]: wasi.imports });
  wasi.bind(instance.exports.memory as WebAssembly.Memory, 'i32');
  const run = catchExit(() => (instance.exports._start as () => void)());
  const out = wasi.output();
  return { exitCode: run.exited ? run.code : 0, stdout: text(out.stdout), stderr: text(out.stderr), truncated: out.truncated };
}

describe('a real C program compiled for wasm32-wasi (test/fixtures/c/demo.c)', () => {
  it('declares only preview1 imports whose signatures match the catalog', async () => {
    for (const file of ['demo.wasm', 'strings.wasm']) {
      const info = describeModule(new Uint8Array(await readFile(`test/fixtures/c/${file}`)));
      for (const i of info.imports) {
        expect(i.module).toBe(WASI_MODULE);
        expect(preview1ImportProblem(i.name, i.signature!, 'i32')).toBeUndefined();
      }
    }
  });

  it('sees its args and environment, upper-cases stdin to stdout, reports on stderr, exits 0', async () => {
    const run = await runDemo({ args: ['demo', 'one', 'two words'], env: { NAME: 'wasi' }, stdin: new TextEncoder().encode('abc\n') });
    expect(run).toEqual({
      exitCode: 0,
      stdout: 'argc=3\nargv[0]=demo\nargv[1]=one\nargv[2]=two words\nenv NAME=wasi\nhello, wasi!\nABC\n',
      stderr: 'read 4 bytes from stdin\n',
      truncated: false,
    });
  });

  it('exits with the code main returns (through proc_exit)', async () => {
    const run = await runDemo({ env: { EXIT_CODE: '42' } });
    expect(run.exitCode).toBe(42);
    expect(run.stdout).toContain('hello, world!');
  });

  it('cannot open a file: fopen fails cleanly with an errno, the host is never reached', async () => {
    const run = await runDemo({ args: ['demo', '--open', '/etc/hostname'] });
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toMatch(/^open \/etc\/hostname: (?!opened).+$/m);
  });

  it('prints the same time and random bytes on every deterministic run with the same seed', async () => {
    const options = { args: ['demo', '--entropy'], deterministic: true, seed: 7 };
    const a = await runDemo(options);
    const b = await runDemo(options);
    const c = await runDemo({ ...options, seed: 8 });
    const line = (s: string): string => /^time .*$/m.exec(s)?.[0] ?? '';
    expect(line(a.stdout)).toMatch(/^time 1704067200\.\d{9} random [0-9a-f]{16}$/);
    expect(line(b.stdout)).toBe(line(a.stdout));
    expect(line(c.stdout)).not.toBe(line(a.stdout));
  });

  it('cuts stdout at the output limit and says so', async () => {
    const run = await runDemo({ stdin: new Uint8Array(5000).fill(0x61), outputLimit: 100 });
    expect(run.stdout.length).toBe(100);
    expect(run.truncated).toBe(true);
    expect(run.stderr).toBe('read 5000 bytes from stdin\n');
  });
});
