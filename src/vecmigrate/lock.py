"""One writer per target: an flock on `<target>/.lock` holding the writer's PID.

The kernel releases an flock when its process dies, so a lock left by a dead process is
simply taken over (and the dead PID is reported); a live holder makes a second writer fail
at once with "locked by PID n".
"""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

from .errors import TargetError

LOCK_NAME = ".lock"  # generations.LOCK_NAME


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TargetLock:
    def __init__(self, root: Path) -> None:
        self.path = Path(root) / LOCK_NAME
        self.fd: int | None = None
        self.took_over_from: int | None = None

    def __enter__(self) -> "TargetLock":
        from .generations import Layout, check_root, check_shape
        check_root(self.path.parent)
        if self.path.parent.is_dir():  # a target vecmigrate would refuse gets no lock file either
            check_shape(Layout(self.path.parent))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:  # never through a link, never blocking on a FIFO: the lock file is truncated and written
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as exc:
            raise TargetError(f"cannot open the target's lock {self.path}: "
                              + ("it is a link; vecmigrate never writes through a link: remove it"
                                 if os.path.islink(self.path) else exc.strerror or str(exc))) from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
            os.close(fd)
            raise TargetError(f"the target's lock {self.path} is not a regular file of its own "
                              f"({'a hard link' if info.st_nlink > 1 else 'a FIFO, device or socket'}): remove it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise TargetError(f"target {self.path.parent} is locked by PID {holder} "
                              f"(another migrate or rollback is running)") from None
        previous = os.read(fd, 32).decode(errors="replace").strip()
        if previous.isdigit() and int(previous) != os.getpid() and not _alive(int(previous)):
            self.took_over_from = int(previous)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        os.fsync(fd)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            if self.path.exists():
                os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
