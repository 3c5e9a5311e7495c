"""The USearch HNSW file: settings, crash-safe saving, checked loading, rebuilding from vec0.

The index is derived data. It is saved to a temp file, fsynced and renamed over the old
one; its sha256 and header are recorded in SQLite, and a file that does not match them is
never loaded (a corrupt file can crash the process): it is rebuilt from the vec0 mirror.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import apsw
import numpy as np
from usearch.index import Index

from ..db import sql
from ..faults import crash_point
from ..files import file_checksum, fsync_dir, fsync_file, same_mode_as

METRICS = {"cos": "cosine", "l2sq": "l2"}  # USearch metric -> vec0 distance_metric
DTYPES = ("f32", "f16", "bf16", "i8")


@dataclass(frozen=True)
class IndexSettings:
    dimension: int = 384
    metric: str = "cos"
    dtype: str = "f32"
    connectivity: int = 16
    expansion_add: int = 128
    expansion_search: int = 64

    @property
    def vec0_metric(self) -> str:
        return METRICS[self.metric]

    def check(self) -> "IndexSettings":
        """These settings, if an index can have them (else a UsageError naming the one that is wrong)."""
        from ..errors import UsageError
        if not 1 <= self.dimension <= 1 << 16:
            raise UsageError(f"dimension must be from 1 to 65536, got {self.dimension}")
        if self.metric not in METRICS:
            raise UsageError(f"metric must be one of {', '.join(METRICS)}, got {self.metric!r}")
        if self.dtype not in DTYPES:
            raise UsageError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.connectivity < 2 or self.expansion_add < 1 or self.expansion_search < 1:
            raise UsageError(f"connectivity must be at least 2 and expansion_add, expansion_search at least 1, got "
                             f"{self.connectivity}, {self.expansion_add}, {self.expansion_search}")
        return self

    def to_meta(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_meta(cls, meta: dict[str, str]) -> "IndexSettings":
        return cls(dimension=int(meta["dimension"]), metric=meta["metric"], dtype=meta["dtype"],
                   connectivity=int(meta["connectivity"]), expansion_add=int(meta["expansion_add"]),
                   expansion_search=int(meta["expansion_search"]))


def new_index(settings: IndexSettings) -> Index:
    # dtype is always passed: USearch's own default is hardware-chosen and may be lossy.
    return Index(ndim=settings.dimension, metric=settings.metric, dtype=settings.dtype,
                 connectivity=settings.connectivity, expansion_add=settings.expansion_add,
                 expansion_search=settings.expansion_search)


def save_index(index: Index, path: Path, crash_point_name: str = "index-temp-written") -> str:
    """Write the index to `path` atomically (temp file, fsync, rename); return its sha256."""
    temp = path.with_name(path.name + ".tmp")
    try:
        index.save(str(temp))
    except RuntimeError as exc:  # USearch reports a failed write (disk full, I/O error) this way
        temp.unlink(missing_ok=True)
        raise OSError(f"cannot write the USearch index {temp}: {exc}") from None
    same_mode_as(temp, path.with_name("patterns.sqlite"))  # never wider than the database it belongs to
    fsync_file(temp)
    checksum = file_checksum(temp)
    crash_point(crash_point_name)
    os.replace(temp, path)
    fsync_dir(path.parent)
    return checksum


def check_index_file(path: Path, settings: IndexSettings, checksum: str | None, count: int | None) -> str | None:
    """None if the file at `path` is the one SQLite recorded, else why it must not be used."""
    if not path.exists():
        return f"index file {path} is missing"
    if checksum is None:
        return f"no checksum recorded for index file {path}"
    if file_checksum(path) != checksum:
        return f"index file {path} does not match its recorded checksum (stale, truncated or foreign)"
    header = Index.metadata(str(path))
    if header is None:
        return f"index file {path} has no readable USearch header"
    if header["dimensions"] != settings.dimension:
        return f"index file {path} has dimension {header['dimensions']}, expected {settings.dimension}"
    if header["kind_metric"].name.lower() != settings.metric or header["kind_scalar"].name.lower() != settings.dtype:
        return (f"index file {path} is {header['kind_metric'].name.lower()}/{header['kind_scalar'].name.lower()}, "
                f"expected {settings.metric}/{settings.dtype}")
    if count is not None and header["count_present"] != count:
        return f"index file {path} holds {header['count_present']} vectors, expected {count}"
    return None


def remove_keys(index: Index, keys) -> None:
    """Remove those of `keys` the index holds (USearch raises on others; vec0 has no upsert either)."""
    present = [int(k) for k in keys if int(k) in index]
    if present:
        index.remove(np.asarray(present, dtype=np.uint64))


def load_checked(path: Path, settings: IndexSettings, meta: dict[str, str]) -> tuple[Index | None, str | None]:
    """(the index, None) when the file is the one SQLite recorded (checksum, header) and loads,
    else (None, why it must not be used). The checksum guards against accidents, not against a
    file crafted together with its recorded checksum (see the README's limits)."""
    recorded = meta.get("index_count")
    try:
        problem = check_index_file(path, settings, meta.get("index_checksum"),
                                   int(recorded) if recorded is not None else None)
    except OSError as exc:  # e.g. pruned by a writer since this reader resolved its generation
        problem = f"index file {path} cannot be read ({exc.strerror or exc})"
    if problem is not None:
        return None, problem
    try:
        return load_index(path, settings), None
    except (RuntimeError, ValueError, MemoryError, OSError) as exc:  # USearch's word for a file it cannot read
        return None, f"index file {path} cannot be loaded ({type(exc).__name__}: {str(exc)[:80]})"


def load_index(path: Path, settings: IndexSettings) -> Index:
    index = new_index(settings)
    index.load(str(path))
    index.expansion_search = settings.expansion_search  # not stored in the file
    return index


def rebuild_from_mirror(conn: apsw.Connection, settings: IndexSettings, batch: int = 10_000) -> Index:
    """A fresh index holding every vector of the vec0 mirror under its rowid."""
    index = new_index(settings)
    keys: list[int] = []
    blobs: list[bytes] = []
    for key, blob in conn.execute(sql("all_vectors")):
        keys.append(key)
        blobs.append(blob)
        if len(keys) >= batch:
            _add(index, keys, blobs, settings.dimension)
            keys, blobs = [], []
    if keys:
        _add(index, keys, blobs, settings.dimension)
    return index


def _add(index: Index, keys: list[int], blobs: list[bytes], dimension: int) -> None:
    vectors = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(keys), dimension)
    index.add(np.asarray(keys, dtype=np.uint64), vectors, threads=0)
