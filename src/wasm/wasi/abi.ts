// The WASI preview1 ABI as the host sees it: errno values, constants, and every function's parameter kinds.
import type { FunctionSignature, ModuleImport, ModuleInfo, ValueType } from '../module-info.js';

export const WASI_MODULE = 'wasi_snapshot_preview1';

/** The errno values this host answers with (numbering from wasi-libc's wasi/api.h). */
export const ERRNO = {
  SUCCESS: 0,
  BADF: 8,
  FAULT: 21,
  INVAL: 28,
  NOSYS: 52,
  NOTDIR: 54,
  NOTSOCK: 57,
  NOTSUP: 58,
  SPIPE: 70,
} as const;

export const CLOCK = { REALTIME: 0, MONOTONIC: 1, PROCESS_CPUTIME: 2, THREAD_CPUTIME: 3 } as const;
export const FILETYPE_CHARACTER_DEVICE = 2;
export const EVENTTYPE = { CLOCK: 0, FD_READ: 1, FD_WRITE: 2 } as const;
export const SUBCLOCKFLAGS_ABSTIME = 1;
export const RIGHTS = { FD_READ: 1n << 1n, FD_WRITE: 1n << 6n, FD_FILESTAT_GET: 1n << 21n, POLL_FD_READWRITE: 1n << 27n } as const;

/**
 * A parameter's kind: `u32` and `u64` are plain integers (fds, flags, clock ids, timestamps, offsets);
 * `addr` is a pointer or a size, which is i32 on a 32-bit memory and i64 on a memory64 module.
 */
export type ParamKind = 'u32' | 'u64' | 'addr';

const A = 'addr';
const U = 'u32';
const L = 'u64';

/** Every preview1 function, in the order of the WASI spec. All return an errno except proc_exit. */
export const PREVIEW1_FUNCTIONS: Readonly<Record<string, readonly ParamKind[]>> = {
  args_get: [A, A],
  args_sizes_get: [A, A],
  environ_get: [A, A],
  environ_sizes_get: [A, A],
  clock_res_get: [U, A],
  clock_time_get: [U, L, A],
  fd_advise: [U, L, L, U],
  fd_allocate: [U, L, L],
  fd_close: [U],
  fd_datasync: [U],
  fd_fdstat_get: [U, A],
  fd_fdstat_set_flags: [U, U],
  fd_fdstat_set_rights: [U, L, L],
  fd_filestat_get: [U, A],
  fd_filestat_set_size: [U, L],
  fd_filestat_set_times: [U, L, L, U],
  fd_pread: [U, A, A, L, A],
  fd_prestat_get: [U, A],
  fd_prestat_dir_name: [U, A, A],
  fd_pwrite: [U, A, A, L, A],
  fd_read: [U, A, A, A],
  fd_readdir: [U, A, A, L, A],
  fd_renumber: [U, U],
  fd_seek: [U, L, U, A],
  fd_sync: [U],
  fd_tell: [U, A],
  fd_write: [U, A, A, A],
  path_create_directory: [U, A, A],
  path_filestat_get: [U, U, A, A, A],
  path_filestat_set_times: [U, U, A, A, L, L, U],
  path_link: [U, U, A, A, U, A, A],
  path_open: [U, U, A, A, U, L, L, U, A],
  path_readlink: [U, A, A, A, A, A],
  path_remove_directory: [U, A, A],
  path_rename: [U, A, A, U, A, A],
  path_symlink: [A, A, U, A, A],
  path_unlink_file: [U, A, A],
  poll_oneoff: [A, A, A, A],
  proc_exit: [U],
  proc_raise: [U],
  sched_yield: [],
  random_get: [A, A],
  sock_accept: [U, U, A],
  sock_recv: [U, A, A, U, A, A],
  sock_send: [U, A, A, U, A],
  sock_shutdown: [U, U],
};

/** The wasm signature a module must declare to import `name` over a memory of index type `index`. */
export function preview1Signature(name: string, index: 'i32' | 'i64'): FunctionSignature | undefined {
  const kinds = PREVIEW1_FUNCTIONS[name];
  if (kinds === undefined) return undefined;
  const params = kinds.map((k): ValueType => (k === 'u32' ? 'i32' : k === 'u64' ? 'i64' : index));
  return { params, results: name === 'proc_exit' ? [] : ['i32'] };
}

/**
 * Why a `wasi_snapshot_preview1` function import cannot be linked, or undefined when it can: the name must
 * be a preview1 function and its declared signature the one for the module's memory (i32 pointers on a
 * 32-bit memory, i64 on memory64).
 */
export function preview1ImportProblem(name: string, declared: FunctionSignature, index: 'i32' | 'i64'): string | undefined {
  const expected = preview1Signature(name, index);
  if (expected === undefined) return `"${name}" is not a WASI preview1 function`;
  const same = (a: readonly ValueType[], b: readonly ValueType[]): boolean => a.length === b.length && a.every((t, i) => t === b[i]);
  if (same(declared.params, expected.params) && same(declared.results, expected.results)) return undefined;
  const show = (s: FunctionSignature): string => `(${s.params.join(', ')}) -> (${s.results.join(', ')})`;
  return `"${name}" is declared ${show(declared)}; with ${index === 'i64' ? 'a memory64' : 'a 32-bit'} memory preview1 needs ${show(expected)}`;
}

/** The import check for `wasi_snapshot_preview1`: functions only, each with its preview1 signature for the module's memory. */
export function wasiImportProblem(imported: ModuleImport, info: ModuleInfo): string | undefined {
  if (imported.kind !== 'function' || imported.signature === undefined) return 'WASI preview1 provides functions only';
  return preview1ImportProblem(imported.name, imported.signature, info.memory?.index ?? 'i32');
}
