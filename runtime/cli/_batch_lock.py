"""The batch's claim on its output file: checked to be a regular file, then locked for the
whole run, so a second ``relay batch`` on the same output (a second terminal, an overlapping
cron job) is refused before it runs anything instead of running and appending every result
again.

The lock is ``flock`` on the output file itself, not a lock file beside it: nothing extra is
left in the user's folder, the same file reached by another path (a symlink, a hard link) is
the same lock, and the kernel drops it when the process ends however it ends (Ctrl-C, a crash,
``kill -9``), so a stale lock never needs cleaning up.

The type check uses ``os.stat`` before any open: opening a FIFO can block until a writer
comes, and a device such as ``/dev/zero`` reads without end.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from ._batch_output import BatchOutputError

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_output_path(path: Path) -> bool:
    """Whether the output file exists; raises ``BatchOutputError`` when it is anything but a
    regular file, or when it does not exist and its folder does not either."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        folder = path.parent
        if not folder.is_dir():
            raise BatchOutputError(
                f"the output file's folder {folder} does not exist; create it or choose "
                "another --out"
            ) from None
        return False
    except OSError as exc:
        raise BatchOutputError(
            f"cannot use the output file {path}: {exc.strerror or exc}"
        ) from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise BatchOutputError(
            f"the output {path} is {kind}; --out must be a regular file (or not exist yet)"
        )
    return True


@contextlib.contextmanager
def claim_output(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the output file for the ``with`` block, creating the file if
    it does not exist (and removing it again if the run wrote nothing to it).

    Raises:
        BatchOutputError: the output is no regular file, cannot be opened, or another process
            holds the lock (another ``relay batch`` writing to it).
    """
    existed = check_output_path(path)
    # O_NONBLOCK: should the path turn into a FIFO between the check and the open, the open
    # does not wait for a writer; fstat below then refuses it.
    flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise BatchOutputError(
            f"cannot open the output file {path}: {exc.strerror or exc}"
        ) from None
    locked = False
    try:
        _lock(fd, path)
        locked = True
        yield
    finally:
        with contextlib.suppress(OSError):
            # Only while holding the lock: then no other batch is using the file removed.
            if locked and not existed and os.fstat(fd).st_size == 0:
                os.unlink(path)
        os.close(fd)  # releases the lock


def _lock(fd: int, path: Path) -> None:
    opened = os.fstat(fd)
    if not stat.S_ISREG(opened.st_mode):
        raise BatchOutputError(f"the output {path} is not a regular file; choose another --out")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _holder(opened)
        who = f" (pid {pid})" if pid else ""
        raise BatchOutputError(f"{path} is in use by another relay batch{who}") from None
    try:
        now = os.stat(path)
    except OSError:
        now = None
    if now is None or (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
        # The run holding it removed the empty file it had created as we opened it.
        raise BatchOutputError(f"{path} is in use by another relay batch")


def _holder(st: os.stat_result) -> int | None:
    """The pid holding a ``flock`` on this file, from ``/proc/locks`` (Linux); None when
    unknown. Only for the message: the lock itself never depends on it."""
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == key:
                    return int(fields[4]) if fields[4].isdigit() else None
    except OSError:
        return None
    return None
