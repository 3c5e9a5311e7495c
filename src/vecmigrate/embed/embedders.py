"""Embedders turn pattern text into vectors when the source stores none.

- `lexical` (default): deterministic, dependency-free feature hashing of words, word bigrams
  and character trigrams, sublinear term weights, L2-normalised. Patterns that share words
  land near each other; nothing is random. Version-tagged so a target records exactly
  which function produced its vectors.
- `minilm`: all-MiniLM-L6-v2 sentence embeddings (384-d, normalised) computed in numpy from
  the model's bundled files (minilm.py); no torch, nothing downloaded.
- `module:function`: any importable callable mapping a list of texts to an (n, dimension)
  array-like; from Python, any callable, or one that takes a whole Pattern.

A target records the model of its vectors; text queries go through that model's embedder.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
import zlib
from typing import Callable, Protocol, Sequence

import numpy as np

from ..errors import EmbedderNameError, EmbeddingError

LEXICAL = "lexical"
MINILM = "minilm"
MINILM_DIMENSION = 384
MINILM_MODEL = "all-MiniLM-L6-v2"
# Labels sources use for all-MiniLM-L6-v2 (lower case). 'onnx' and 'local' are not here: they
# name a runtime, not a model; 'hash-fallback' is a hash.
MINILM_LABELS = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "xenova/all-minilm-l6-v2", "minilm"}
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
    """all-MiniLM-L6-v2 (384-d, normalised), computed in numpy from the model's own files
    (see minilm.py): no torch, nothing downloaded."""

    spec = MINILM

    def __init__(self, dimension: int) -> None:
        if dimension != MINILM_DIMENSION:
            raise EmbeddingError(f"{MINILM_MODEL} makes {MINILM_DIMENSION}-d vectors; the target's dimension is {dimension}")
        from .minilm import MiniLM
        self.model = MiniLM()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(texts)


class CallableEmbedder:
    """A user's function: texts -> (n, dimension) array-like; or, with `takes_patterns`,
    one Pattern -> one vector (the guide's `generateEmbedding(pattern)`)."""

    def __init__(self, spec: str, function: Callable, *, takes_patterns: bool = False) -> None:
        self.spec = spec
        self.function = function
        self.takes_patterns = takes_patterns

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.function(list(texts)))


def model_of(spec: str) -> str:
    """The model name an embedder spec stands for (what a target records)."""
    return {MINILM: MINILM_MODEL, LEXICAL: LEXICAL}.get(spec, spec)


def spec_for_model(label: str | None) -> str | None:
    """The built-in embedder that makes vectors of the model `label` names, or None. Labels
    come from source files and targets: they only ever select a built-in embedder, never code."""
    if not label:
        return None
    key = label.strip().lower()
    if key in MINILM_LABELS:
        return MINILM
    if key == LEXICAL:
        return LEXICAL
    return None


def unavailable(spec: str) -> str | None:
    """Why a built-in embedder cannot run here (None when it can)."""
    if spec == MINILM:
        from . import minilm
        problem = minilm.missing()
        return f"{problem}; install it with: {minilm.INSTALL_HINT}" if problem else None
    return None


def callable_spec(function: Callable, *, takes_patterns: bool = False) -> str:
    name = f"{getattr(function, '__module__', None) or 'python'}.{getattr(function, '__qualname__', type(function).__name__)}"
    return f"{'pattern-fn' if takes_patterns else 'python'}:{name}"


def load_embedder(spec: "str | Callable", dimension: int, *, takes_patterns: bool = False,
                  named_by_user: bool = False) -> Embedder:
    """The embedder named by `spec` ("lexical", "minilm" or "module:function"), or a callable.
    A `module:function` is imported only when the user named it (`named_by_user`: on the command
    line or in the API); a name that comes from a target or a source never runs code."""
    if callable(spec):
        return CallableEmbedder(callable_spec(spec, takes_patterns=takes_patterns), spec, takes_patterns=takes_patterns)
    if spec == LEXICAL:
        return LexicalEmbedder(dimension)
    if spec == MINILM:
        return MiniLMEmbedder(dimension)
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise EmbedderNameError(f"--embedder {spec!r}: expected 'lexical', 'minilm' or 'module:function'")
    if not named_by_user:
        raise EmbeddingError(f"the embedder {spec!r} is recorded in a file, and vecmigrate never runs code a file "
                             f"names: pass --embedder {spec} to run it")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # as `python -m` would: a module in the current folder is found
    try:
        with contextlib.redirect_stdout(sys.stderr):
            module = importlib.import_module(module_name)
    except (ImportError, TypeError, ValueError) as exc:  # (TypeError: a relative name such as '.x')
        raise EmbedderNameError(f"--embedder {spec!r}: cannot import module {module_name!r} ({exc})") from None
    except (Exception, SystemExit) as exc:  # the module itself fails (or exits) while it is imported
        raise EmbeddingError(f"--embedder {spec!r}: importing {module_name!r} failed: "
                             f"{type(exc).__name__}: {exc}") from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise EmbedderNameError(f"--embedder {spec!r}: {module_name} has no callable {attr!r}")
    return CallableEmbedder(spec, function)


def target_model(meta: dict[str, str]) -> str:
    """The model of a target's vectors, from its meta (targets made before models were recorded
    name only their embedder)."""
    return meta.get("model") or model_of(meta.get("embedder") or LEXICAL)


def query_spec(meta: dict[str, str]) -> tuple[str | None, str | None]:
    """(the embedder that makes the target's model here, None), or (None, why there is none).
    A `module:function` the target was made with is named, never loaded from here."""
    model = target_model(meta)
    spec = spec_for_model(model)
    if spec is None:
        recorded = meta.get("embedder") or ""
        if ":" in recorded and model == recorded:
            return recorded, None
        return None, (f"text search needs the model that made this target's vectors ({model}), and "
                      f"vecmigrate has no embedder for it: search with --id or --vector")
    why = unavailable(spec)
    return (None, f"text search needs {model} (the model of this target's vectors): {why}") if why else (spec, None)


def query_embedder(meta: dict[str, str], dimension: int, named: str | None = None) -> Embedder:
    """The embedder for text queries on a target: the one that makes the model of its vectors.
    A `module:function` runs only when the user names it (`named`), never because a target
    says so."""
    model = target_model(meta)
    if named is not None:
        builtin = named in (LEXICAL, MINILM)
        if not builtin and not all(named.partition(":")):  # a name no embedder has: a usage error first
            raise EmbedderNameError(f"--embedder {named!r}: expected 'lexical', 'minilm' or 'module:function'")
        if (builtin and model_of(named) != model) or (not builtin and named not in (model, meta.get("embedder"))):
            raise EmbeddingError(f"--embedder {named} does not make this target's vectors ({model}): "
                                 f"a query from another model finds nothing meaningful")
        return load_embedder(named, dimension, named_by_user=True)
    spec, why = query_spec(meta)
    if spec is None:
        raise EmbeddingError(why)
    if ":" in spec:
        raise EmbeddingError(f"this target's vectors were made by {spec}; name it to embed the query: --embedder {spec}")
    return load_embedder(spec, dimension)


def embed_patterns(embedder: Embedder, patterns: Sequence, dimension: int) -> np.ndarray:
    """Vectors for patterns: their content through a text embedder, or each whole pattern
    through a pattern embedder."""
    if not getattr(embedder, "takes_patterns", False):
        return embed(embedder, [p.content for p in patterns], dimension)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # (what a user's embedder prints is not our output)
            rows = [np.asarray(embedder.function(p), dtype=np.float32).reshape(-1) for p in patterns]
    except (Exception, SystemExit) as exc:  # (a user's sys.exit() must not end vecmigrate with exit 0)
        raise EmbeddingError(f"embedder {embedder.spec!r} failed: {type(exc).__name__}: {exc}") from None
    bad = next((i for i, r in enumerate(rows) if r.shape != (dimension,)), None)
    if bad is not None:
        raise EmbeddingError(f"embedder {embedder.spec!r} returned {rows[bad].shape[0]} values for pattern "
                             f"{patterns[bad].id!r}, expected {dimension}")
    return np.ascontiguousarray(np.stack(rows)) if rows else np.zeros((0, dimension), dtype=np.float32)


def embed(embedder: Embedder, texts: Sequence[str], dimension: int) -> np.ndarray:
    """Run the embedder and check its output: (len(texts), dimension) of finite numbers, as float32."""
    try:
        with contextlib.redirect_stdout(sys.stderr), np.errstate(over="ignore", invalid="ignore"):
            # (stdout is the command's; a float64 beyond float32 becomes inf and is quarantined below)
            result = embedder(texts)
            matrix = np.asarray(result, dtype=np.float32)
    except EmbeddingError:
        raise
    except (Exception, SystemExit) as exc:  # a user's embedder can fail in any way; say which one failed
        raise EmbeddingError(f"embedder {embedder.spec!r} failed: {type(exc).__name__}: {exc}") from None
    if matrix.ndim == 1 and len(texts) == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.shape != (len(texts), dimension):
        raise EmbeddingError(f"embedder {embedder.spec!r} returned shape {matrix.shape}, "
                             f"expected ({len(texts)}, {dimension})")
    return np.ascontiguousarray(matrix)
