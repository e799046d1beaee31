import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { describeModule } from '../../../src/wasm/module-info.js';
import { ERRNO, PREVIEW1_FUNCTIONS, WASI_MODULE, preview1ImportProblem } from '../../../src/wasm/wasi/abi.js';
import { VIRTUAL_EPOCH_NS, VIRTUAL_TICK_NS } from '../../../src/wasm/wasi/clock.js';
import { WasiExit } from '../../../src/wasm/wasi/exit.js';
import { WasiOptionsError, createWasi } from '../../../src/wasm/wasi/preview1.js';
import { compileWat } from '../../../src/wasm/wat.js';
import { cString, instantiateCalls } from '../../support/wasi-calls.js';
import type { CallsInstance, Width } from '../../support/wasi-calls.js';

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** Lays out iovecs at `at` for the given (ptr, len) pairs at the instance's width. */
function iovecs(w: CallsInstance, at: number, vectors: [number, number][]): void {
  vectors.forEach(([ptr, len], i) => {
    w.writeSize(at + i * 2 * w.width, ptr);
    w.writeSize(at + i * 2 * w.width + w.width, len);
  });
}

function put(w: CallsInstance, at: number, s: string): number {
  const bytes = new TextEncoder().encode(s);
  w.bytes().set(bytes, at);
  return bytes.length;
}

describe.each<Width>(['i32', 'i64'])('WASI preview1 with %s pointers', (width) => {
  it('args_sizes_get and args_get lay out argv as C strings', async () => {
    const w = await instantiateCalls(width, { args: ['prog', 'a b', 'héllo'] });
    expect(w.call('args_sizes_get', 100, 200)).toBe(ERRNO.SUCCESS);
    expect(w.readSize(100)).toBe(3);
    expect(w.readSize(200)).toBe(5 + 4 + 7);
    expect(w.call('args_get', 1000, 2000)).toBe(ERRNO.SUCCESS);
    const strings = [0, 1, 2].map((i) => cString(w.bytes(), w.readSize(1000 + i * w.width)));
    expect(strings).toEqual(['prog', 'a b', 'héllo']);
    expect(w.readSize(1000)).toBe(2000);
  });

  it('environ_sizes_get and environ_get give KEY=VALUE strings in order', async () => {
    const w = await instantiateCalls(width, { env: { NAME: 'wasm', EMPTY: '' } });
    expect(w.call('environ_sizes_get', 100, 200)).toBe(ERRNO.SUCCESS);
    expect([w.readSize(100), w.readSize(200)]).toEqual([2, 10 + 7]);
    expect(w.call('environ_get', 1000, 2000)).toBe(ERRNO.SUCCESS);
    expect([cString(w.bytes(), w.readSize(1000)), cString(w.bytes(), w.readSize(1000 + w.width))]).toEqual(['NAME=wasm', 'EMPTY=']);
  });

  it('fd_write gathers iovecs into stdout and stderr and reports the bytes written', async () => {
    const w = await instantiateCalls(width);
    const a = put(w, 3000, 'hello, ');
    const b = put(w, 3100, 'world\n');
    iovecs(w, 100, [[3000, a], [3100, b]]);
    expect(w.call('fd_write', 1, 100, 2, 500)).toBe(ERRNO.SUCCESS);
    expect(w.readSize(500)).toBe(13);
    iovecs(w, 100, [[3100, b]]);
    expect(w.call('fd_write', 2, 100, 1, 500)).toBe(ERRNO.SUCCESS);
    expect(w.call('fd_write', 0, 100, 1, 500)).toBe(ERRNO.BADF);
    expect(w.call('fd_write', 7, 100, 1, 500)).toBe(ERRNO.BADF);
    const out = w.wasi.output();
    expect([text(out.stdout), text(out.stderr), out.truncated]).toEqual(['hello, world\n', 'world\n', false]);
  });

  it('keeps at most outputLimit bytes per stream and flags the cut, while the guest sees every byte written', async () => {
    const w = await instantiateCalls(width, { outputLimit: 4 });
    iovecs(w, 100, [[3000, put(w, 3000, 'abcdef')]]);
    expect(w.call('fd_write', 1, 100, 1, 500)).toBe(ERRNO.SUCCESS);
    expect(w.readSize(500)).toBe(6);
    expect(w.call('fd_write', 1, 100, 1, 500)).toBe(ERRNO.SUCCESS);
    const out = w.wasi.output();
    expect([text(out.stdout), out.truncated]).toEqual(['abcd', true]);
  });

  it('fd_read fills iovecs from stdin, then reads 0 at the end; only fd 0 is readable', async () => {
    const w = await instantiateCalls(width, { stdin: new TextEncoder().encode('abcdefgh') });
    iovecs(w, 100, [[3000, 3], [3100, 2]]);
    expect(w.call('fd_read', 0, 100, 2, 500)).toBe(ERRNO.SUCCESS);
    expect(w.readSize(500)).toBe(5);
    expect(text(w.bytes().subarray(3000, 3003)) + text(w.bytes().subarray(3100, 3102))).toBe('abcde');
    iovecs(w, 100, [[3000, 100]]);
    expect(w.call('fd_read', 0, 100, 1, 500)).toBe(ERRNO.SUCCESS);
    expect([w.readSize(500), text(w.bytes().subarray(3000, 3003))]).toEqual([3, 'fgh']);
    expect(w.call('fd_read', 0, 100, 1, 500)).toBe(ERRNO.SUCCESS);
    expect(w.readSize(500)).toBe(0);
    expect(w.call('fd_read', 1, 100, 1, 500)).toBe(ERRNO.BADF);
    expect(w.call('fd_read', 3, 100, 1, 500)).toBe(ERRNO.BADF);
  });

  it('fd_fdstat_get describes the standard streams as character devices with read or write rights', async () => {
    const w = await instantiateCalls(width);
    for (const fd of [0, 1, 2]) {
      expect(w.call('fd_fdstat_get', fd, 600)).toBe(ERRNO.SUCCESS);
      expect(w.view().getUint8(600)).toBe(2);
      const rights = w.view().getBigUint64(608, true);
      expect((rights & (1n << 1n)) !== 0n).toBe(fd === 0); // FD_READ
      expect((rights & (1n << 6n)) !== 0n).toBe(fd !== 0); // FD_WRITE
      expect(rights & ((1n << 2n) | (1n << 5n))).toBe(0n); // no SEEK, no TELL
    }
    expect(w.call('fd_fdstat_get', 3, 600)).toBe(ERRNO.BADF);
    expect(w.call('fd_filestat_get', 1, 600)).toBe(ERRNO.SUCCESS);
    expect(w.view().getUint8(616)).toBe(2);
  });

  it('fd_seek and fd_tell on a standard stream answer ESPIPE, on anything else EBADF', async () => {
    const w = await instantiateCalls(width);
    expect(w.call('fd_seek', 1, 0, 1, 700)).toBe(ERRNO.SPIPE);
    expect(w.call('fd_seek', 0, 5, 0, 700)).toBe(ERRNO.SPIPE);
    expect(w.call('fd_seek', 4, 0, 0, 700)).toBe(ERRNO.BADF);
    expect(w.call('fd_tell', 2, 700)).toBe(ERRNO.SPIPE);
    expect(w.call('fd_tell', 9, 700)).toBe(ERRNO.BADF);
  });

  it('fd_close closes a standard stream once; later calls on it are EBADF', async () => {
    const w = await instantiateCalls(width);
    iovecs(w, 100, [[3000, put(w, 3000, 'x')]]);
    expect(w.call('fd_close', 1)).toBe(ERRNO.SUCCESS);
    expect(w.call('fd_write', 1, 100, 1, 500)).toBe(ERRNO.BADF);
    expect(w.call('fd_close', 1)).toBe(ERRNO.BADF);
    expect(w.call('fd_close', 3)).toBe(ERRNO.BADF);
    expect(w.call('fd_write', 2, 100, 1, 500)).toBe(ERRNO.SUCCESS);
  });

  it('fd_prestat_get and fd_prestat_dir_name: there are no preopened directories', async () => {
    const w = await instantiateCalls(width);
    for (const fd of [0, 1, 2, 3, 4]) expect(w.call('fd_prestat_get', fd, 800)).toBe(ERRNO.BADF);
    expect(w.call('fd_prestat_dir_name', 3, 800, 16)).toBe(ERRNO.BADF);
  });

  it('clock_time_get and clock_res_get read the host clocks; an unknown clock is EINVAL', async () => {
    const w = await instantiateCalls(width);
    const before = BigInt(Date.now()) * 1_000_000n;
    expect(w.call('clock_time_get', 0, 1000, 900)).toBe(ERRNO.SUCCESS);
    const realtime = w.view().getBigUint64(900, true);
    // Wall time, not time since the run began or the virtual epoch. Within a second: REALTIME is the wall
    // clock at the run's start plus monotonic time since, and a VM's wall clock may be corrected in between
    // (a CI run once read it 1+ ms ahead of Date.now()).
    const second = 1_000_000_000n;
    expect(realtime >= before - second).toBe(true);
    expect(realtime <= BigInt(Date.now()) * 1_000_000n + second).toBe(true);
    expect(w.call('clock_time_get', 1, 0, 900)).toBe(ERRNO.SUCCESS);
    const first = w.view().getBigUint64(900, true);
    expect(w.call('clock_time_get', 1, 0, 900)).toBe(ERRNO.SUCCESS);
    expect(w.view().getBigUint64(900, true) >= first).toBe(true);
    expect(w.call('clock_time_get', 7, 0, 900)).toBe(ERRNO.INVAL);
    expect(w.call('clock_res_get', 1, 900)).toBe(ERRNO.SUCCESS);
    expect(w.view().getBigUint64(900, true) > 0n).toBe(true);
    expect(w.call('clock_res_get', 9, 900)).toBe(ERRNO.INVAL);
  });

  it('random_get fills the buffer from the system CSPRNG', async () => {
    const w = await instantiateCalls(width);
    expect(w.call('random_get', 1200, 64)).toBe(ERRNO.SUCCESS);
    const first = Buffer.from(w.bytes().subarray(1200, 1264));
    expect(w.call('random_get', 1200, 64)).toBe(ERRNO.SUCCESS);
    expect(first.equals(Buffer.alloc(64))).toBe(false);
    expect(Buffer.from(w.bytes().subarray(1200, 1264)).equals(first)).toBe(false);
  });

  it('in deterministic mode, clocks are virtual and random_get is SHA-256(seed ‖ counter)', async () => {
    const w = await instantiateCalls(width, { deterministic: true, seed: 'job-1' });
    expect(w.call('clock_time_get', 0, 0, 900)).toBe(ERRNO.SUCCESS);
    expect(w.view().getBigUint64(900, true)).toBe(VIRTUAL_EPOCH_NS + VIRTUAL_TICK_NS);
    expect(w.call('clock_time_get', 1, 0, 900)).toBe(ERRNO.SUCCESS);
    expect(w.view().getBigUint64(900, true)).toBe(2n * VIRTUAL_TICK_NS);
    expect(w.call('clock_res_get', 0, 900)).toBe(ERRNO.SUCCESS);
    expect(w.view().getBigUint64(900, true)).toBe(VIRTUAL_TICK_NS);

    expect(w.call('random_get', 1200, 20)).toBe(ERRNO.SUCCESS);
    expect(w.call('random_get', 1220, 20)).toBe(ERRNO.SUCCESS);
    const block = (i: number): Buffer => {
      const counter = Buffer.alloc(8);
      counter.writeBigUInt64LE(BigInt(i));
      return createHash('sha256').update('job-1').update(counter).digest();
    };
    expect(Buffer.from(w.bytes().subarray(1200, 1240))).toEqual(Buffer.concat([block(0), block(1)]).subarray(0, 40));

    const again = await instantiateCalls(width, { deterministic: true, seed: 'job-1' });
    again.call('random_get', 1200, 40);
    expect(Buffer.from(again.bytes().subarray(1200, 1240))).toEqual(Buffer.from(w.bytes().subarray(1200, 1240)));
    const other = await instantiateCalls(width, { deterministic: true, seed: 'job-2' });
    other.call('random_get', 1200, 40);
    expect(Buffer.from(other.bytes().subarray(1200, 1240))).not.toEqual(Buffer.from(w.bytes().subarray(1200, 1240)));
  });

  it('poll_oneoff waits for the earliest clock subscription and reports it', async () => {
    const w = await instantiateCalls(width, { deterministic: true });
    const v = w.view();
    // subscription 0: relative clock, 5 ms; subscription 1: relative clock, 1 s (not due)
    const subscribe = (at: number, userdata: bigint, timeout: bigint): void => {
      v.setBigUint64(at, userdata, true);
      v.setUint8(at + 8, 0);
      v.setUint32(at + 16, 1, true);
      v.setBigUint64(at + 24, timeout, true);
      v.setUint16(at + 40, 0, true);
    };
    subscribe(2000, 11n, 5_000_000n);
    subscribe(2048, 22n, 1_000_000_000n);
    w.call('clock_time_get', 1, 0, 900);
    const before = v.getBigUint64(900, true);
    expect(w.call('poll_oneoff', 2000, 2400, 2, 2600)).toBe(ERRNO.SUCCESS);
    expect(w.readSize(2600)).toBe(1);
    expect([v.getBigUint64(2400, true), v.getUint16(2408, true), v.getUint8(2410)]).toEqual([11n, 0, 0]);
    w.call('clock_time_get', 1, 0, 900);
    expect(v.getBigUint64(900, true) - before >= 5_000_000n).toBe(true);
    expect(w.call('poll_oneoff', 2000, 2400, 0, 2600)).toBe(ERRNO.INVAL);
  });

  it('poll_oneoff with an fd_read subscription on stdin is ready at once with the bytes left', async () => {
    const w = await instantiateCalls(width, { stdin: new Uint8Array(9) });
    const v = w.view();
    v.setBigUint64(2000, 7n, true);
    v.setUint8(2008, 1);
    v.setUint32(2016, 0, true);
    v.setBigUint64(2048, 8n, true); // a clock an hour away: must not be waited for
    v.setUint8(2056, 0);
    v.setUint32(2064, 1, true);
    v.setBigUint64(2072, 3_600_000_000_000n, true);
    v.setBigUint64(2096, 9n, true); // fd_read on a closed fd
    v.setUint8(2104, 1);
    v.setUint32(2112, 5, true);
    expect(w.call('poll_oneoff', 2000, 2400, 3, 2600)).toBe(ERRNO.SUCCESS);
    expect(w.readSize(2600)).toBe(2);
    expect([v.getBigUint64(2400, true), v.getUint16(2408, true), v.getUint8(2410), v.getBigUint64(2416, true)]).toEqual([7n, 0, 1, 9n]);
    expect([v.getBigUint64(2432, true), v.getUint16(2440, true)]).toEqual([9n, ERRNO.BADF]);
  });

  it('poll_oneoff really sleeps on the host clock when not deterministic', async () => {
    const w = await instantiateCalls(width);
    const v = w.view();
    v.setBigUint64(2000, 1n, true);
    v.setUint8(2008, 0);
    v.setUint32(2016, 1, true);
    v.setBigUint64(2024, 20_000_000n, true);
    const t0 = process.hrtime.bigint();
    expect(w.call('poll_oneoff', 2000, 2400, 1, 2600)).toBe(ERRNO.SUCCESS);
    expect(process.hrtime.bigint() - t0 >= 20_000_000n).toBe(true);
  });

  it('proc_exit ends the run by throwing WasiExit with the code', async () => {
    const w = await instantiateCalls(width);
    expect(() => w.call('proc_exit', 3)).toThrow(WasiExit);
    try {
      w.call('proc_exit', 255);
    } catch (err) {
      expect((err as WasiExit).code).toBe(255);
    }
  });

  it('sched_yield succeeds and proc_raise is ENOSYS', async () => {
    const w = await instantiateCalls(width);
    expect(w.call('sched_yield')).toBe(ERRNO.SUCCESS);
    expect(w.call('proc_raise', 9)).toBe(ERRNO.NOSYS);
  });

  it('answers EFAULT, never throws, for pointers outside memory', async () => {
    const w = await instantiateCalls(width);
    const outside = 65536 - 2;
    expect(w.call('args_sizes_get', outside, 100)).toBe(ERRNO.FAULT);
    expect(w.call('random_get', 65000, 1000)).toBe(ERRNO.FAULT);
    iovecs(w, 100, [[65530, 100]]);
    expect(w.call('fd_write', 1, 100, 1, 500)).toBe(ERRNO.FAULT);
    expect(w.call('fd_read', 0, 100, 1, 500)).toBe(ERRNO.FAULT);
    expect(w.call('clock_time_get', 0, 0, 70000)).toBe(ERRNO.FAULT);
    if (width === 'i64') {
      expect(w.call('random_get', 2n ** 40n, 4)).toBe(ERRNO.FAULT);
      expect(w.call('random_get', -8n, 4)).toBe(ERRNO.FAULT);
      expect(w.call('fd_write', 1, 100, 2n ** 62n, 500)).toBe(ERRNO.FAULT);
    } else {
      expect(w.call('random_get', -8, 4)).toBe(ERRNO.FAULT);
    }
  });

  it('file and socket calls fail cleanly: EBADF on unknown fds, ENOTDIR/ENOTSOCK/ESPIPE/ENOTSUP on the streams', async () => {
    const w = await instantiateCalls(width);
    const pathLength = put(w, 3000, '/etc/hostname');
    w.view().setUint32(3500, 0xdeadbeef, true);
    // path_open(dirfd, dirflags, path, path_len, oflags, rights, rights_inheriting, fdflags, fd_out)
    expect(w.call('path_open', 3, 0, 3000, pathLength, 0, 0, 0, 0, 3500)).toBe(ERRNO.BADF);
    expect(w.call('path_open', 0, 0, 3000, pathLength, 0, 0, 0, 0, 3500)).toBe(ERRNO.NOTDIR);
    expect(w.view().getUint32(3500, true)).toBe(0xdeadbeef);
    const expectations: [string, (number | bigint)[], number, number][] = [
      ['fd_readdir', [0, 3000, 100, 0, 3500], ERRNO.NOTDIR, ERRNO.BADF],
      ['fd_pread', [0, 100, 1, 0, 3500], ERRNO.SPIPE, ERRNO.BADF],
      ['fd_pwrite', [1, 100, 1, 0, 3500], ERRNO.SPIPE, ERRNO.BADF],
      ['fd_advise', [1, 0, 0, 0], ERRNO.SPIPE, ERRNO.BADF],
      ['fd_allocate', [1, 0, 10], ERRNO.SPIPE, ERRNO.BADF],
      ['fd_datasync', [1], ERRNO.INVAL, ERRNO.BADF],
      ['fd_sync', [1], ERRNO.INVAL, ERRNO.BADF],
      ['fd_fdstat_set_flags', [1, 1], ERRNO.NOTSUP, ERRNO.BADF],
      ['fd_fdstat_set_rights', [1, 0, 0], ERRNO.NOTSUP, ERRNO.BADF],
      ['fd_filestat_set_size', [1, 0], ERRNO.NOTSUP, ERRNO.BADF],
      ['fd_filestat_set_times', [1, 0, 0, 0], ERRNO.NOTSUP, ERRNO.BADF],
      ['fd_renumber', [1, 2], ERRNO.NOTSUP, ERRNO.BADF],
      ['path_create_directory', [1, 3000, pathLength], ERRNO.NOTDIR, ERRNO.BADF],
      ['path_filestat_get', [1, 0, 3000, pathLength, 3500], ERRNO.NOTDIR, ERRNO.BADF],
      ['path_filestat_set_times', [1, 0, 3000, pathLength, 0, 0, 0], ERRNO.NOTDIR, ERRNO.BADF],
      ['path_link', [1, 0, 3000, pathLength, 1, 3000, pathLength], ERRNO.NOTDIR, ERRNO.BADF],
      ['path_readlink', [1, 3000, pathLength, 3600, 100, 3500], ERRNO.NOTDIR, ERRNO.BADF],
      ['path_remove_directory', [1, 3000, pathLength], ERRNO.NOTDIR, ERRNO.BADF],
      ['path_rename', [1, 3000, pathLength, 1, 3000, pathLength], ERRNO.NOTDIR, ERRNO.BADF],
      ['path_unlink_file', [1, 3000, pathLength], ERRNO.NOTDIR, ERRNO.BADF],
      ['sock_accept', [1, 0, 3500], ERRNO.NOTSOCK, ERRNO.BADF],
      ['sock_recv', [0, 100, 1, 0, 3500, 3600], ERRNO.NOTSOCK, ERRNO.BADF],
      ['sock_send', [1, 100, 1, 0, 3500], ERRNO.NOTSOCK, ERRNO.BADF],
      ['sock_shutdown', [1, 2], ERRNO.NOTSOCK, ERRNO.BADF],
    ];
    for (const [name, args, onStream, onUnknown] of expectations) {
      expect([name, w.call(name, ...args)]).toEqual([name, onStream]);
      const unknown = [...args];
      unknown[0] = 42;
      if (name === 'fd_renumber') unknown[1] = 43;
      expect([name, w.call(name, ...unknown)]).toEqual([name, onUnknown]);
    }
    // path_symlink(old_path, old_path_len, dirfd, new_path, new_path_len)
    expect(w.call('path_symlink', 3000, pathLength, 1, 3000, pathLength)).toBe(ERRNO.NOTDIR);
    expect(w.call('path_symlink', 3000, pathLength, 5, 3000, pathLength)).toBe(ERRNO.BADF);
    expect(w.view().getUint32(3500, true)).toBe(0xdeadbeef);
    expect(w.wasi.output().stdout.length).toBe(0);
  });
});

describe('the preview1 catalog', () => {
  it('names every function the fixtures import, with the signatures the fixtures declare', async () => {
    for (const [file, index] of [['calls32.wat', 'i32'], ['calls64.wat', 'i64']] as const) {
      const info = describeModule(await compileWat(await readFile(`test/fixtures/wasi/${file}`, 'utf8')));
      const imported = info.imports.filter((i) => i.module === WASI_MODULE);
      expect(imported.map((i) => i.name).sort()).toEqual(Object.keys(PREVIEW1_FUNCTIONS).sort());
      for (const i of imported) expect(preview1ImportProblem(i.name, i.signature!, index)).toBeUndefined();
    }
  });

  it('explains a wrong import: an unknown name, or i32 pointers against a memory64 module', () => {
    expect(preview1ImportProblem('fd_frobnicate', { params: [], results: ['i32'] }, 'i32')).toMatch(/not a WASI preview1/);
    expect(preview1ImportProblem('fd_write', { params: ['i32', 'i32', 'i32', 'i32'], results: ['i32'] }, 'i64')).toMatch(/memory64/);
    expect(preview1ImportProblem('fd_write', { params: ['i32', 'i32', 'i32', 'i32'], results: ['i32'] }, 'i32')).toBeUndefined();
  });

  it('refuses argv and environment that cannot be C strings', () => {
    const base = { stdin: new Uint8Array(0), outputLimit: 10 };
    expect(() => createWasi({ ...base, args: ['a\0b'], env: {} })).toThrow(WasiOptionsError);
    expect(() => createWasi({ ...base, args: [], env: { 'A=B': 'x' } })).toThrow(WasiOptionsError);
    expect(() => createWasi({ ...base, args: [], env: { '': 'x' } })).toThrow(WasiOptionsError);
  });
});
