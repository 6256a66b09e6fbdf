"""Replacing a folder so that readers, crashes and rival writers see one whole version.

An artist's segments are a folder of audio files plus their index, and every later
stage reads both; replacing them file by file would let a reader, or a run killed
half-way, see a new index over old files. So a new version is built whole in a staging
folder and put in place in one step:

- on Linux, ``renameat2(RENAME_EXCHANGE)`` swaps the staging folder and the target, so
  the target path holds a complete version at every instant, the swap included;
- where the exchange is missing (other systems, filesystems such as NFS), the old folder
  is renamed aside and the new one in; a crash between the two renames leaves the old
  folder under the aside name, and :func:`recover` puts it back before the next write.

Two writers of one folder would share (and delete) each other's staging folder, so each
holds :func:`exclusive_lock` for its whole build and swap: a second run of the same
partition waits, then builds and swaps its own complete version. The lock is a
``flock``, which the kernel drops when its holder dies (SIGKILL included), so a killed
run never leaves a stale lock behind.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
# the filesystem or kernel cannot exchange: fall back to two renames
_NO_EXCHANGE = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}


@cache
def _renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    function = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if function is not None:
        path = ctypes.c_char_p
        function.argtypes = [ctypes.c_int, path, ctypes.c_int, path, ctypes.c_uint]
        function.restype = ctypes.c_int
    return function


def exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths in one atomic step; ``False`` where that is not possible."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    status = renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if status == 0:
        return True
    code = ctypes.get_errno()
    if code in _NO_EXCHANGE:
        return False
    raise OSError(code, os.strerror(code), str(first), None, str(second))


def replace_folder(new: Path, target: Path, aside: Path) -> None:
    """Put folder ``new`` at ``target`` and delete the previous ``target``.

    ``aside`` is where the previous folder waits during the two-rename fallback; the
    caller passes the same name to :func:`recover`. Once the new folder is in place, a
    failure to delete the old one is left to :func:`recover` rather than failing a
    write that has succeeded.
    """
    if not target.exists():
        os.rename(new, target)
        return
    if exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)
        return
    os.rename(target, aside)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def recover(target: Path, staging: Path, aside: Path) -> None:
    """Undo what an interrupted writer left: its staging folder, or a fallback swap cut
    between its two renames. Call it holding the folder's lock."""
    if staging.exists():
        shutil.rmtree(staging)
    if aside.exists():
        if target.exists():
            shutil.rmtree(aside)
        else:
            os.rename(aside, target)


def _is_current(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (made if missing, removed on release).

    The holder removes the file before releasing it, so a waiter that then wins the
    lock may hold a file no longer at ``path``; it checks and starts over. Blocks while
    another process holds the lock. POSIX only (``fcntl``), imported here so that
    reading what the writers made works everywhere.
    """
    import fcntl

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _is_current(fd, path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)
