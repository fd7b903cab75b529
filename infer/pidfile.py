"""The sidecar's pidfile: what a deploy reads to find the process to SIGHUP.

The file is held with an exclusive flock(2) for the sidecar's whole life, so a
second sidecar given the same --pidfile is refused at start instead of
overwriting it (and later deleting it, leaving the live one unreachable). A file
left by a dead process carries no lock and is taken over. The lock's descriptor
is not inherited by child processes (Python opens it close-on-exec).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class PidfileError(Exception):
    """The pidfile is held by another live process, or cannot be written."""


class Pidfile:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Lock the file and write this process's pid into it, or raise PidfileError."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise PidfileError(f"{self.path}: cannot open pidfile: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise PidfileError(
                f"{self.path}: pidfile is held by running process {holder}; another sidecar "
                f"serves with this --pidfile (stop it, or give this one its own --pidfile)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Remove the file if it still names this process, then drop the lock."""
        if self._fd is None:
            return
        try:
            if self.path.read_text().strip() == str(os.getpid()):
                self.path.unlink()
        except OSError:
            pass  # already gone or replaced: not ours to remove
        os.close(self._fd)
        self._fd = None
