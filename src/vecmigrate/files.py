"""Durable file operations: fsync of files and directories, checksums."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path
from typing import Iterator


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes) -> None:
    """Write a file of ours afresh, fsynced: whatever is at `path` is unlinked first (a link
    itself, never what it points to), and the new file is created exclusively, never followed."""
    if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
        os.unlink(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def no_wider_than(*references: Path) -> Iterator[None]:
    """Files and directories created inside give group and others at most what every one of
    `references` gives them (a 0600 source: 0600 files, 0700 directories), never more than the
    umask already allows; the owner always reads and writes what it makes. The umask is the
    process's, so this is for the write phases of the command line and the API."""
    shared = 0o066
    for reference in references:
        try:
            shared &= stat.S_IMODE(os.stat(reference).st_mode)
        except OSError:
            pass
    mode = shared | 0o600
    directories = mode | ((mode & 0o444) >> 2)  # a directory its reader can enter
    previous = os.umask(0o077)
    os.umask(previous | (0o777 & ~directories))
    try:
        yield
    finally:
        os.umask(previous)


def same_mode_as(path: Path, reference: Path) -> None:
    """Give `path` the permission bits of `reference` (a replaced file keeps its mode)."""
    try:
        os.chmod(path, stat.S_IMODE(os.stat(reference).st_mode))
    except OSError:
        pass
