"""Who may write a target: an flock on `<target>/.lock`.

Pattern stores and `sync` write the live generation in place and share the target (a shared
flock: SQLite serializes their transactions, the change log keeps every index right).
`migrate` (which builds a new generation from a copy of the live one), `rollback` and the
writing shell need it alone (an exclusive flock, with the holder's PID in the file).

The kernel releases an flock when its process dies, so a lock left by a dead process is
simply taken over (and the dead PID is reported); a live holder makes the other kind of
writer fail at once, saying who holds it.
"""

from __future__ import annotations

import fcntl
import os
import stat
import time
from pathlib import Path

from ..errors import TargetError

LOCK_NAME = ".lock"  # generations.LOCK_NAME


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError, OSError):  # (no process can have such a number)
        return False
    return True


def holder(root: Path) -> tuple[int, str] | None:
    """The PID of a live process holding the target alone and what it is (`migrate`, `rollback`,
    `shell --write`, ...; "" for a lock an older vecmigrate wrote), as the lock file says; read
    without locking, so asking never gets in a writer's way."""
    path = Path(root) / LOCK_NAME
    try:
        with open(path, "rb", buffering=0) as lock_file:  # (what vecmigrate writes there is short)
            text = lock_file.read(HOLDER_BYTES).decode(errors="replace")
            info = os.fstat(lock_file.fileno())
    except OSError:
        return None
    pid, what = _parse(text)
    if pid is None or what == STARTING.strip() or not _alive(pid):
        return None
    return (pid, what) if _flocked_alone(info) is not False else None


HOLDER_BYTES = 64
MAX_PID = 2**22  # Linux's pid_max limit: a larger number in the lock file is no PID


def _parse(text: str) -> tuple[int | None, str]:
    """The lock file's `PID what` (what may be empty); anything else there names no process."""
    pid, _, what = text.strip().partition(" ")
    if not (pid.isascii() and pid.isdigit() and len(pid) <= 7 and 0 < int(pid) <= MAX_PID):
        return None, ""
    return int(pid), what.strip()


def _flocked_alone(info: os.stat_result) -> bool | None:
    """Does some process hold an exclusive flock on this file (its device and inode)? From the
    kernel's /proc/locks (None where there is none to ask): a PID left in the file by a killed
    writer, or taken again by another process since, is no holder."""
    try:
        with open("/proc/locks") as locks:
            lines = locks.read().splitlines()
    except OSError:
        return None
    wanted = (os.major(info.st_dev), os.minor(info.st_dev), info.st_ino)
    for line in lines:
        fields = line.split()
        if "FLOCK" in fields and "WRITE" in fields and any(_file_id(f) == wanted for f in fields):
            return True
    return False


def _file_id(field: str) -> tuple[int, int, int] | None:
    """/proc/locks names a file `MAJOR:MINOR:INODE` (the device numbers in hex)."""
    parts = field.split(":")
    try:
        return (int(parts[0], 16), int(parts[1], 16), int(parts[2])) if len(parts) == 3 else None
    except ValueError:
        return None


STARTING = " starting"  # after the PID: a shared taker recovering, about to share
SHARED_WAIT_SECONDS = 5.0  # a shared taker waits this long for another one's start-up (its recovery)


class TargetLock:
    """`shared=False`: the target alone (migrate, rollback). `shared=True`: beside other shared
    holders (stores, sync); the first one in finishes what a killed process left half done
    (generations.recover) while it briefly holds the target alone."""

    def __init__(self, root: Path, *, shared: bool = False, creates: bool = False, what: str = "") -> None:
        """`creates`: the folder may be no target yet (a migrate); else the lock is refused there,
        and no lock file is left in a folder that is no target. `what` names the holder in the
        lock file (`migrate`, `rollback`, ...), for status and for whoever is refused."""
        self.path = Path(root) / LOCK_NAME
        self.shared = shared
        self.creates = creates
        self.what = what
        self.fd: int | None = None
        self.took_over_from: int | None = None
        self.recovered: list[str] = []

    def __enter__(self) -> "TargetLock":
        from .generations import Layout, check_root, check_shape
        check_root(self.path.parent)
        if not self.creates and not Layout(self.path.parent).holds_a_target():
            raise TargetError(f"no vecmigrate target at {self.path.parent} (run `vecmigrate migrate` first)")
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
            if self.shared:
                self._take_shared(fd)
            else:
                self._take_alone(fd)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return self

    def _take_alone(self, fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise self._held(fd, "a migrate, rollback or repair needs it alone") from None
        self._claim(fd, f" {self.what}" if self.what else "")

    def _take_shared(self, fd: int) -> None:
        deadline = time.monotonic() + SHARED_WAIT_SECONDS
        while True:
            try:  # the first one in: alone for a moment, to finish what a killed writer left
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                try:  # other shared holders: they did that already
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    holder = self._holder(fd)
                    # an empty holder is a writer between truncating the file and writing its PID, or a
                    # shared taker between its recovery and sharing: both last an instant, so wait
                    if time.monotonic() > deadline or not (holder.endswith(STARTING) or holder == ""):
                        raise self._held(fd, "stores and sync wait for no migrate or rollback") from None
                    time.sleep(0.05)
                    continue
            self._claim(fd, STARTING)
            from .generations import Layout, recover
            try:
                self.recovered = recover(Layout(self.path.parent))
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_SH)  # (not atomic: another shared taker may slip in, which is fine)
            return

    def _claim(self, fd: int, label: str = "") -> None:
        previous, _ = _parse(self._holder(fd))
        if previous is not None and previous != os.getpid() and not _alive(previous):
            self.took_over_from = previous
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}{label}".encode(), 0)
        os.fsync(fd)

    @staticmethod
    def _holder(fd: int) -> str:
        return os.pread(fd, HOLDER_BYTES, 0).decode(errors="replace").strip()

    def _held(self, fd: int, why: str) -> TargetError:
        pid, what = _parse(self._holder(fd))
        if pid is not None:
            running = f"`vecmigrate {what}` is running" if what and what != STARTING.strip() else \
                "another migrate or rollback is running"
            return TargetError(f"target {self.path.parent} is locked by PID {pid} ({running})")
        return TargetError(f"target {self.path.parent} is open for writing by other processes (pattern stores or "
                           f"`vecmigrate sync`); {why}: close them first")

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            if self.path.exists() and not self.shared:
                os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
