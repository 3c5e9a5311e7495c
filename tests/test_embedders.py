import numpy as np
import pytest

from vecmigrate.embed.embedders import LexicalEmbedder, embed, load_embedder
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
    ok = load_embedder("my_embedder:embed", 8, named_by_user=True)
    assert embed(ok, ["a", "b"], 8).shape == (2, 8)
    with pytest.raises(EmbeddingError, match=r"returned shape \(2, 3\), expected \(2, 8\)"):
        embed(load_embedder("my_embedder:wrong", 8, named_by_user=True), ["a", "b"], 8)
    with pytest.raises(EmbeddingError, match="model missing"):
        embed(load_embedder("my_embedder:broken", 8, named_by_user=True), ["a"], 8)


@pytest.mark.parametrize("spec, message", [("nomodule_xyz:f", "cannot import"), ("json:nothing", "no callable"),
                                           ("justtext", "expected 'lexical', 'minilm' or 'module:function'")])
def test_bad_embedder_specs(spec, message):
    with pytest.raises(EmbeddingError, match=message):
        load_embedder(spec, 8, named_by_user=True)


def test_a_module_function_that_no_user_named_is_never_imported(tmp_path, monkeypatch):
    (tmp_path / "planted.py").write_text("import pathlib\npathlib.Path(__file__).with_name('RAN').touch()\n"
                                         "def embed(texts):\n    return [[1.0] * 8 for _ in texts]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(EmbeddingError, match="never runs code a file names"):
        load_embedder("planted:embed", 8)
    assert not (tmp_path / "RAN").exists()


