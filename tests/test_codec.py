import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from vecmigrate.codec import VectorError, decode, decode_many, encode

finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)


@given(arrays(np.float32, st.integers(1, 64), elements=finite32).filter(lambda a: np.any(a)))
def test_round_trip_is_exact(vector):
    blob = encode(vector)
    assert len(blob) == 4 * vector.size
    assert np.array_equal(decode(blob, vector.size), vector)
    assert decode(blob, vector.size).tobytes() == blob


@given(st.lists(arrays(np.float32, 8, elements=finite32).filter(lambda a: np.any(a)), min_size=1, max_size=20))
def test_decode_many_equals_decode_one_by_one(vectors):
    blobs = [encode(v) for v in vectors]
    matrix, bad = decode_many(blobs, 8)
    assert bad == {}
    assert matrix.tobytes() == b"".join(blobs)


@pytest.mark.parametrize("bad, reason", [
    (np.array([1.0, np.nan, 0.0], dtype=np.float32), "NaN or Inf"),
    (np.array([1.0, np.inf, 0.0], dtype=np.float32), "NaN or Inf"),
    (np.zeros(3, dtype=np.float32), "all zeros"),
])
def test_refuses_non_finite_and_zero(bad, reason):
    with pytest.raises(VectorError, match=reason):
        encode(bad)
    with pytest.raises(VectorError, match=reason):
        decode(bad.tobytes(), 3)


def test_wrong_length_is_refused_with_sizes_named():
    with pytest.raises(VectorError, match="10 bytes does not hold 4 float32"):
        decode(b"\x00" * 10, 4)
    with pytest.raises(VectorError, match="expected 4"):
        encode([1.0, 2.0], 4)


def test_float64_blob_is_never_guessed():
    as64 = np.arange(1, 5, dtype="<f8").tobytes()  # 32 bytes: 4-d float64 or 8-d float32
    with pytest.raises(VectorError, match="--source-float64"):
        decode(as64, 4)
    assert decode(as64, 4, allow_float64=True).tolist() == [1.0, 2.0, 3.0, 4.0]
    assert decode(as64, 8).size == 8  # read as float32 only when the dimension says so


def test_decode_many_reports_each_bad_blob():
    good = encode([1.0, 2.0])
    matrix, bad = decode_many([good, b"\x00" * 3, encode([0.5, 0.5]), np.zeros(2, "<f4").tobytes()], 2)
    assert set(bad) == {1, 3}
    assert "does not hold" in bad[1] and "zeros" in bad[3]
    assert matrix[0].tobytes() == good
