// WASI preview1 in memory: args, environment, stdin/stdout/stderr, clocks, random and exit; nothing reaches the host.
import { ERRNO, FILETYPE_CHARACTER_DEVICE, PREVIEW1_FUNCTIONS, RIGHTS } from './abi.js';
import { realClock, virtualClock } from './clock.js';
import type { WasiClock } from './clock.js';
import { WasiExit } from './exit.js';
import { GuestMemory, WasiErrno } from './memory.js';
import type { Address } from './memory.js';
import { CapturedOutput } from './output.js';
import { pollOneoff } from './poll.js';
import { seededRandom, systemRandom } from './random.js';
import type { RandomSource } from './random.js';
import { unsupportedCalls } from './unsupported.js';

export interface WasiOptions {
  /** The whole argv, argv[0] included. */
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  stdin: Uint8Array;
  /** Bytes kept of stdout and of stderr each; beyond it output is counted and dropped. */
  outputLimit: number;
  /** Virtual clock and seeded random instead of the host's, so that a run is reproducible. */
  deterministic?: boolean;
  /** The deterministic random stream's seed (default 0). */
  seed?: number | string;
  clock?: WasiClock;
  random?: RandomSource;
}

/** What a run printed, and whether either stream was cut at the limit. */
export interface WasiOutput {
  stdout: Uint8Array;
  stderr: Uint8Array;
  truncated: boolean;
}

export type { HostFunction } from './memory.js';
import type { HostFunction } from './memory.js';

export interface Wasi {
  /** The `wasi_snapshot_preview1` import object: every preview1 function, for i32 and i64 pointers alike. */
  readonly imports: Record<string, HostFunction>;
  /** Gives the host calls the instance's memory; `index` decides the pointer width of the ABI's structs. */
  bind(memory: WebAssembly.Memory, index: 'i32' | 'i64'): void;
  output(): WasiOutput;
}

/** Thrown by createWasi for args or environment that cannot be passed as C strings. */
export class WasiOptionsError extends Error {
  override readonly name = 'WasiOptionsError';
}

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;

function cStrings(values: readonly string[], what: string): Uint8Array[] {
  const encoder = new TextEncoder();
  return values.map((value) => {
    if (value.includes('\0')) throw new WasiOptionsError(`${what} ${JSON.stringify(value)} contains a NUL character`);
    const bytes = encoder.encode(value);
    const terminated = new Uint8Array(bytes.length + 1);
    terminated.set(bytes);
    return terminated;
  });
}

function environment(env: Readonly<Record<string, string>>): Uint8Array[] {
  for (const name of Object.keys(env)) {
    if (name === '' || name.includes('=')) throw new WasiOptionsError(`environment variable name ${JSON.stringify(name)} is empty or contains "="`);
  }
  return cStrings(Object.entries(env).map(([k, v]) => `${k}=${v}`), 'environment variable');
}

export function createWasi(options: WasiOptions): Wasi {
  const args = cStrings(options.args, 'argument');
  const env = environment(options.env);
  const clock = options.clock ?? (options.deterministic === true ? virtualClock() : realClock());
  const random = options.random ?? (options.deterministic === true ? seededRandom(options.seed ?? 0) : systemRandom);
  const stdout = new CapturedOutput(options.outputLimit);
  const stderr = new CapturedOutput(options.outputLimit);
  const stdin = options.stdin;
  let stdinAt = 0;
  const open = [true, true, true];
  let bound: GuestMemory | undefined;

  const memory = (): GuestMemory => {
    // A module that imports WASI but exports no memory cannot be handed anything through pointers.
    if (bound === undefined) throw new WasiErrno(ERRNO.FAULT);
    return bound;
  };
  const isOpen = (fd: number): boolean => open[fd] === true;
  const checkOpen = (fd: Address): number => {
    const n = GuestMemory.address(fd);
    if (!isOpen(n)) throw new WasiErrno(ERRNO.BADF);
    return n;
  };

  /** Writes a C-string table (argv or environ): pointers at `list`, the strings packed from `buffer`. */
  const writeStrings = (strings: Uint8Array[], list: Address, buffer: Address): number => {
    const mem = memory();
    let listAt = GuestMemory.address(list);
    let at = GuestMemory.address(buffer);
    for (const s of strings) {
      mem.size(listAt, at);
      mem.write(at, s);
      listAt += mem.width;
      at += s.length;
    }
    return ERRNO.SUCCESS;
  };
  const writeSizes = (strings: Uint8Array[], count: Address, bytes: Address): number => {
    memory().size(count, strings.length);
    memory().size(bytes, strings.reduce((n, s) => n + s.length, 0));
    return ERRNO.SUCCESS;
  };

  const readStdin = (into: Uint8Array): number => {
    const n = Math.min(into.length, stdin.length - stdinAt);
    into.set(stdin.subarray(stdinAt, stdinAt + n));
    stdinAt += n;
    return n;
  };

  const calls: Record<string, HostFunction> = {
    ...unsupportedCalls(isOpen),

    args_get: (argv, buffer) => writeStrings(args, argv, buffer),
    args_sizes_get: (count, bytes) => writeSizes(args, count, bytes),
    environ_get: (environ, buffer) => writeStrings(env, environ, buffer),
    environ_sizes_get: (count, bytes) => writeSizes(env, count, bytes),

    clock_res_get: (id, out) => {
      const resolution = clock.resolution(Number(id));
      if (resolution === undefined) return ERRNO.INVAL;
      memory().u64(out, resolution);
      return ERRNO.SUCCESS;
    },
    clock_time_get: (id, _precision, out) => {
      const time = clock.now(Number(id));
      if (time === undefined) return ERRNO.INVAL;
      memory().u64(out, time);
      return ERRNO.SUCCESS;
    },

    fd_write: (fd, iovs, count, written) => {
      const n = checkOpen(fd);
      const sink = n === STDOUT ? stdout : n === STDERR ? stderr : undefined;
      if (sink === undefined) return ERRNO.BADF;
      const mem = memory();
      let total = 0;
      for (const v of mem.ioVectors(iovs, count)) {
        sink.write(mem.bytes.subarray(v.ptr, v.ptr + v.len));
        total += v.len;
      }
      mem.size(written, total);
      return ERRNO.SUCCESS;
    },
    fd_read: (fd, iovs, count, read) => {
      if (checkOpen(fd) !== STDIN) return ERRNO.BADF;
      const mem = memory();
      let total = 0;
      for (const v of mem.ioVectors(iovs, count)) {
        const n = readStdin(mem.bytes.subarray(v.ptr, v.ptr + v.len));
        total += n;
        if (n < v.len) break;
      }
      mem.size(read, total);
      return ERRNO.SUCCESS;
    },
    fd_fdstat_get: (fd, out) => {
      const n = checkOpen(fd);
      const mem = memory();
      const at = mem.check(out, 24);
      // A character device without seek rights is what wasi-libc's isatty() calls a terminal: stdout is then
      // line-buffered, so lines printed before a trap are already captured.
      mem.u8(at, FILETYPE_CHARACTER_DEVICE);
      mem.u16(at + 2, 0);
      mem.u64(at + 8, n === STDIN ? RIGHTS.FD_READ | RIGHTS.FD_FILESTAT_GET | RIGHTS.POLL_FD_READWRITE : RIGHTS.FD_WRITE | RIGHTS.FD_FILESTAT_GET | RIGHTS.POLL_FD_READWRITE);
      mem.u64(at + 16, 0n);
      return ERRNO.SUCCESS;
    },
    fd_filestat_get: (fd, out) => {
      checkOpen(fd);
      const mem = memory();
      const at = mem.check(out, 64);
      mem.bytes.fill(0, at, at + 64);
      mem.u8(at + 16, FILETYPE_CHARACTER_DEVICE);
      return ERRNO.SUCCESS;
    },
    fd_seek: (fd) => {
      checkOpen(fd);
      return ERRNO.SPIPE;
    },
    fd_tell: (fd) => {
      checkOpen(fd);
      return ERRNO.SPIPE;
    },
    fd_close: (fd) => {
      open[checkOpen(fd)] = false;
      return ERRNO.SUCCESS;
    },
    // No descriptor is a preopened directory: wasi-libc scans from fd 3 until it gets EBADF.
    fd_prestat_get: () => ERRNO.BADF,
    fd_prestat_dir_name: () => ERRNO.BADF,

    random_get: (buffer, length) => {
      random(memory().slice(buffer, length));
      return ERRNO.SUCCESS;
    },
    poll_oneoff: (subscriptions, events, count, eventCount) =>
      pollOneoff(memory(), clock, { subscriptions, events, count, eventCount }, (fd) => {
        if (!isOpen(fd)) return { errno: ERRNO.BADF };
        if (fd === STDIN) return { readable: stdin.length - stdinAt };
        return { writable: true };
      }),
    proc_exit: (code) => {
      throw new WasiExit(GuestMemory.address(code));
    },
    proc_raise: () => ERRNO.NOSYS,
    sched_yield: () => ERRNO.SUCCESS,
  };

  const imports: Record<string, HostFunction> = {};
  for (const name of Object.keys(PREVIEW1_FUNCTIONS)) {
    const call = calls[name];
    if (call === undefined) throw new Error(`no host function for preview1 ${name}`);
    imports[name] = (...params) => {
      try {
        return call(...params);
      } catch (err) {
        if (err instanceof WasiErrno) return err.errno;
        throw err;
      }
    };
  }
  return {
    imports,
    bind: (mem, index) => {
      bound = new GuestMemory(mem, index);
    },
    output: () => ({ stdout: stdout.bytes(), stderr: stderr.bytes(), truncated: stdout.truncated || stderr.truncated }),
  };
}
