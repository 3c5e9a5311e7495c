"""The one vector codec: float32 little-endian blobs, with dimension and value checks.

sqlite-vec and every AgentDB variant store vectors this way. A blob is never guessed at:
its length must be 4 × dimension (float32), or 8 × dimension (float64) when the caller
explicitly allows float64 conversion.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import RowRejected

F32 = np.dtype("<f4")
F64 = np.dtype("<f8")


class VectorError(RowRejected):
    """A vector that must not be stored; the message is the quarantine reason."""


def check_vector(vector: np.ndarray, dimension: int) -> None:
    if vector.shape != (dimension,):
        raise VectorError(f"vector has {vector.size} values, expected {dimension}")
    square = float(np.dot(vector, vector))
    if 0.0 < square < math.inf:  # the common case in one pass: finite and not all zeros
        return
    if not np.isfinite(vector).all():
        raise VectorError("vector contains NaN or Inf")
    if not np.any(vector):
        raise VectorError("vector is all zeros")


def encode(vector, dimension: int | None = None) -> bytes:
    """Vector (any float sequence) -> float32 LE blob, refusing NaN/Inf/zero/wrong length."""
    array = np.asarray(vector, dtype=F32).reshape(-1)
    check_vector(array, dimension if dimension is not None else array.size)
    return array.tobytes()


def decode(blob: bytes, dimension: int, *, allow_float64: bool = False) -> np.ndarray:
    """float32 LE blob -> float32 array of `dimension` values, with the same checks as encode."""
    vector = _decode_unchecked(bytes(blob), dimension, allow_float64)
    check_vector(vector, dimension)
    return vector


def _decode_unchecked(blob: bytes, dimension: int, allow_float64: bool) -> np.ndarray:
    size = len(blob)
    if size == 4 * dimension:
        return np.frombuffer(blob, dtype=F32)
    if size == 8 * dimension:
        if allow_float64:
            as64 = np.frombuffer(blob, dtype=F64)
            with np.errstate(over="ignore", invalid="ignore"):
                return as64.astype(F32)
        raise VectorError(
            f"blob of {size} bytes is {dimension}-d float64 or {size // 4}-d float32; "
            f"pass --source-float64 to convert float64, or --dimension {size // 4} for float32")
    raise VectorError(f"blob of {size} bytes does not hold {dimension} float32 values ({4 * dimension} bytes)")


def decode_many(blobs: list[bytes], dimension: int, *, allow_float64: bool = False
                ) -> tuple[np.ndarray, dict[int, str]]:
    """Bulk-decode blobs into an (n, dimension) float32 matrix.

    Returns the matrix and {position: reason} for the blobs that must be refused (their
    rows in the matrix are zero). The common case, every blob float32 of the right size,
    is one `frombuffer` over the joined bytes with no per-row Python work.
    """
    count = len(blobs)
    matrix = np.zeros((count, dimension), dtype=F32)
    bad: dict[int, str] = {}
    if count == 0:
        return matrix, bad
    expected = 4 * dimension
    sizes = np.fromiter((len(b) for b in blobs), dtype=np.int64, count=count)
    fits = sizes == expected
    if fits.all():
        matrix = np.frombuffer(b"".join(blobs), dtype=F32).reshape(count, dimension).copy()
    else:
        good = np.flatnonzero(fits)
        if good.size:
            matrix[good] = np.frombuffer(b"".join(blobs[i] for i in good), dtype=F32).reshape(-1, dimension)
        for i in np.flatnonzero(~fits):
            try:
                matrix[i] = _decode_unchecked(bytes(blobs[i]), dimension, allow_float64)
            except VectorError as exc:
                bad[int(i)] = str(exc)
    bad.update(invalid_rows(matrix, skip=bad))
    return matrix, bad


def invalid_rows(matrix: np.ndarray, *, skip=()) -> dict[int, str]:
    """{row: reason} for rows with NaN/Inf or all zeros (vectorised check)."""
    bad: dict[int, str] = {}
    finite = np.isfinite(matrix).all(axis=1)
    nonzero = np.any(matrix != 0, axis=1)
    for i in np.flatnonzero(~finite):
        if int(i) not in skip:
            bad[int(i)] = "vector contains NaN or Inf"
    for i in np.flatnonzero(finite & ~nonzero):
        if int(i) not in skip:
            bad[int(i)] = "vector is all zeros"
    return bad
