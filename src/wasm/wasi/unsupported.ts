// The preview1 calls on files, directories and sockets: each answers the errno a sandbox with no files owes.
import { ERRNO } from './abi.js';
import type { Address, HostFunction } from './memory.js';

/**
 * `isOpen(fd)` tells whether fd is a standard stream still open. A closed or unknown fd is EBADF; a standard
 * stream is a pipe-like character device, so it is not seekable (ESPIPE), not a directory (ENOTDIR), not a
 * socket (ENOTSOCK), and cannot change flags, rights, size or times (ENOTSUP).
 */
export function unsupportedCalls(isOpen: (fd: number) => boolean): Record<string, HostFunction> {
  const onStream = (errno: number) => (fd: Address): number => (isOpen(Number(fd)) ? errno : ERRNO.BADF);
  const onPath = (fd: Address): number => (isOpen(Number(fd)) ? ERRNO.NOTDIR : ERRNO.BADF);
  return {
    fd_advise: onStream(ERRNO.SPIPE),
    fd_allocate: onStream(ERRNO.SPIPE),
    fd_datasync: onStream(ERRNO.INVAL),
    fd_sync: onStream(ERRNO.INVAL),
    fd_fdstat_set_flags: onStream(ERRNO.NOTSUP),
    fd_fdstat_set_rights: onStream(ERRNO.NOTSUP),
    fd_filestat_set_size: onStream(ERRNO.NOTSUP),
    fd_filestat_set_times: onStream(ERRNO.NOTSUP),
    fd_pread: onStream(ERRNO.SPIPE),
    fd_pwrite: onStream(ERRNO.SPIPE),
    fd_readdir: onStream(ERRNO.NOTDIR),
    fd_renumber: (fd, to) => (isOpen(Number(fd)) && isOpen(Number(to)) ? ERRNO.NOTSUP : ERRNO.BADF),
    path_create_directory: onPath,
    path_filestat_get: onPath,
    path_filestat_set_times: onPath,
    path_link: onPath,
    path_open: onPath,
    path_readlink: onPath,
    path_remove_directory: onPath,
    path_rename: onPath,
    path_symlink: (_old, _oldLength, fd) => onPath(fd ?? -1),
    path_unlink_file: onPath,
    sock_accept: onStream(ERRNO.NOTSOCK),
    sock_recv: onStream(ERRNO.NOTSOCK),
    sock_send: onStream(ERRNO.NOTSOCK),
    sock_shutdown: onStream(ERRNO.NOTSOCK),
  };
}
