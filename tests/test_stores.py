"""One behavioural suite for every pattern store: USearch, sqlite-vec and the dual-write store
over both, on clustered vectors, against real files."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DIM

from vecmigrate.models import Pattern
from vecmigrate.sources.samples import clustered_vectors
from vecmigrate.stores import (
    DualWriteStore,
    PatternStore,
    create_store,
    open_store,
    validate_store,
)

KINDS = ["usearch", "sqlite-vec", "dual"]
TYPES = ["unit", "e2e", "api", "security"]


def patterns_for(n: int, prefix: str = "p") -> list[Pattern]:
    return [Pattern(id=f"{prefix}-{i:04d}", content=f"pattern {i} about {TYPES[i % 4]} testing",
                    type=TYPES[i % 4], domain="checkout" if i % 3 else "login",
                    framework="jest" if i % 2 else None, usage_count=0, metadata={"n": i}) for i in range(n)]


@pytest.fixture
def make_store(tmp_path):
    opened = []

    def make(kind: str, *, metrics: bool = False):
        if kind == "dual":
            primary = create_store(tmp_path / "primary.vecdb", backend="usearch", dimension=DIM, metrics=metrics).store
            secondary = create_store(tmp_path / "secondary.vecdb", backend="sqlite-vec", dimension=DIM).store
            store = DualWriteStore(primary, secondary)
        else:
            store = create_store(tmp_path / f"{kind}.vecdb", backend=kind, dimension=DIM, metrics=metrics).store
        opened.append(store)
        return store
    yield make
    for store in opened:
        try:
            store.close()
        except Exception:
            pass


def sides(store):
    return [store.primary, store.secondary] if isinstance(store, DualWriteStore) else [store]


def assert_consistent(store):
    for side in sides(store):
        report = validate_store(side)
        assert report.valid, report.errors


@pytest.fixture(scope="module")
def vectors():
    return clustered_vectors(600, DIM, clusters=12, seed=11)


@pytest.mark.parametrize("kind", KINDS)
def test_store_get_update_delete_keep_every_part_consistent(make_store, kind, vectors):
    store = make_store(kind)
    assert isinstance(store, PatternStore)
    items = patterns_for(300)
    keys = store.store_batch(items, vectors[:300])
    assert len(set(keys)) == 300 and store.stats().count == 300
    got = store.get("p-0007")
    assert got.pattern.type == items[7].type and got.pattern.metadata == {"n": 7}
    assert got.vector.tobytes() == vectors[7].tobytes()
    # an update keeps the key and replaces the vector everywhere (vec0 delete+insert, USearch remove+add)
    new_key = store.store(Pattern(id="p-0007", content="rewritten", type="api"), vectors[400])
    assert new_key == keys[7]
    assert store.get("p-0007").vector.tobytes() == vectors[400].tobytes()
    assert store.search(vectors[400], k=1)[0].id == "p-0007"
    assert store.delete("p-0010") and not store.delete("p-0010") and store.get("p-0010") is None
    assert all(h.id != "p-0010" for h in store.search(vectors[10], k=20))
    assert store.record_usage("p-0001", when_ms=1_700_000_000_000)
    assert store.record_usage("p-0001", when_ms=1_700_000_000_500)
    used = store.get("p-0001").pattern
    assert (used.usage_count, used.last_used) == (2, 1_700_000_000_500)
    assert not store.record_usage("nope")
    assert store.stats().count == 299
    assert_consistent(store)


@pytest.mark.parametrize("kind", KINDS)
def test_writes_survive_close_and_reopen(make_store, kind, vectors, tmp_path):
    store = make_store(kind)
    store.store_batch(patterns_for(200), vectors[:200])
    store.delete("p-0003")
    store.close()
    for side, backend in zip(["primary.vecdb", "secondary.vecdb"] if kind == "dual" else [f"{kind}.vecdb"],
                             ["usearch", "sqlite-vec"] if kind == "dual" else [kind]):
        with open_store(tmp_path / side, "usearch") as reopened:  # the USearch view of every target
            assert reopened.count() == 199 and len(reopened.index) == 199
            assert reopened.search_id("p-0100", k=1)[0].id == "p-0100"
            assert validate_store(reopened).valid


@pytest.mark.parametrize("kind", KINDS)
def test_filtered_search_returns_k_whenever_k_match(make_store, kind, vectors):
    store = make_store(kind)
    store.store_batch(patterns_for(600), vectors)
    for filters, expected in (({"type": "security"}, 150), ({"type": "unit", "domain": "login"}, 50),
                              ({"framework": "unknown"}, 300)):
        hits = store.search(vectors[0], k=25, filters=filters)
        assert len(hits) == 25 and len({h.id for h in hits}) == 25
        for hit in hits:
            assert all((getattr(hit, c) or "unknown") == v for c, v in filters.items())
    rare = store.search(vectors[0], k=25, filters={"type": "security", "domain": "login", "framework": "jest"})
    assert len(rare) == 25  # 25 of the 25 such patterns (i % 4 == 3, i % 3 == 0, i odd -> i % 12 == 3)
    assert store.search(vectors[0], k=5, filters={"type": "nonexistent"}) == []


@pytest.mark.parametrize("kind", KINDS)
def test_mmr_gives_more_diverse_results(make_store, kind):
    """Three tight clusters of near-duplicates: plain top-k returns one cluster, MMR spreads out."""
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((3, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = np.concatenate([c + 0.02 * rng.standard_normal((20, DIM)) for c in centres]).astype(np.float32)
    query = centres[0] * 0.8 + centres[1] * 0.35 + centres[2] * 0.3
    store = make_store(kind)
    store.store_batch(patterns_for(60), vectors)
    plain = store.search(query, k=6)
    diverse = store.search(query, k=6, mmr_lambda=0.5)

    def mean_pairwise(hits):
        v = np.stack([store.get(h.id).vector for h in hits])
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        s = v @ v.T
        return s[np.triu_indices(len(hits), 1)].mean()
    assert len(diverse) == 6 and diverse[0].id == plain[0].id
    assert mean_pairwise(diverse) < mean_pairwise(plain) - 0.1
    assert store.search(query, k=6, mmr_lambda=1.0)[0].id == plain[0].id


@pytest.mark.parametrize("kind", KINDS)
def test_threshold_clear_optimize_build_and_stats(make_store, kind, vectors):
    store = make_store(kind, metrics=True)
    store.store_batch(patterns_for(300), vectors[:300])
    hits = store.search(vectors[5], k=50)
    kept = store.search(vectors[5], k=50, threshold=hits[9].score)
    assert 10 <= len(kept) < 50 and all(h.score >= hits[9].score for h in kept)
    for i in range(30):
        store.search(vectors[i], k=10)
    stats = store.stats()
    assert stats.searches >= 30 and stats.p50_ms > 0 and stats.p99_ms >= stats.p50_ms and stats.qps > 0
    assert stats.dimension == DIM and stats.metric == "cos" and stats.memory_bytes > 0
    for i in range(0, 300, 2):
        store.delete(f"p-{i:04d}")
    store.optimize()
    store.build_index()
    assert store.stats().count == 150
    assert_consistent(store)
    store.clear()
    assert store.stats().count == 0 and store.search(vectors[0], k=5) == []
    assert_consistent(store)


@pytest.mark.parametrize("kind", ["usearch", "sqlite-vec"])
def test_bad_writes_are_refused_naming_the_pattern(make_store, kind, vectors):
    from vecmigrate.errors import UsageError
    store = make_store(kind)
    bad = vectors[:3].copy()
    bad[1] = np.nan
    with pytest.raises(UsageError, match="pattern 'p-0001': vector contains NaN"):
        store.store_batch(patterns_for(3), bad)
    with pytest.raises(UsageError, match=r"expected \(3, 32\)"):
        store.store_batch(patterns_for(3), vectors[:3, :10])
    with pytest.raises(UsageError, match="twice"):
        store.store_batch(patterns_for(2) * 2, vectors[:4])
    assert store.stats().count == 0  # nothing half-written


def test_read_only_stores_refuse_writes(make_store, vectors, tmp_path):
    from vecmigrate.errors import UsageError
    store = make_store("usearch")
    store.store_batch(patterns_for(10), vectors[:10])
    store.close()
    with open_store(tmp_path / "usearch.vecdb") as reader:
        with pytest.raises(UsageError, match="read-only"):
            reader.delete("p-0001")


def test_factory_creates_prefers_usearch_and_falls_back(tmp_path, monkeypatch, vectors):
    created = create_store(tmp_path / "new.vecdb", dimension=DIM)
    assert created.created and created.backend == "usearch"
    created.store.store_batch(patterns_for(20), vectors[:20])
    created.store.close()
    again = create_store(tmp_path / "new.vecdb", dimension=DIM)
    assert not again.created and again.store.count() == 20
    again.store.close()
    # Stand-in for a USearch failure (a real one needs a broken build or no memory): loading raises.
    from vecmigrate.target import database as target

    def broken(*args, **kwargs):
        raise RuntimeError("index cannot be mapped")
    monkeypatch.setattr(target, "load_checked", broken)
    monkeypatch.setattr(target, "rebuild_from_mirror", broken)
    fallback = create_store(tmp_path / "new.vecdb", dimension=DIM)
    assert fallback.backend == "sqlite-vec" and "using the exact sqlite-vec store" in fallback.notes[0]
    assert fallback.store.search(vectors[3], k=1)[0].id == "p-0003"
    fallback.store.close()


def test_writable_stores_share_a_target_and_see_each_others_writes(make_store, tmp_path, vectors):
    from vecmigrate.errors import TargetError
    from vecmigrate.target.lock import TargetLock
    store = make_store("usearch")
    store.store_batch(patterns_for(5), vectors[:5])
    with open_store(tmp_path / "usearch.vecdb", writable=True) as second:
        second.store_batch([Pattern(id="from-second", content="x")], vectors[7:8])
        assert second.search(vectors[3], k=1)[0].id == "p-0003"
    assert store.search(vectors[7], k=1)[0].id == "from-second"  # replayed from the change log
    with pytest.raises(TargetError, match="open for writing by other processes"):
        TargetLock(tmp_path / "usearch.vecdb").__enter__()  # what migrate and rollback take
    assert open_store(tmp_path / "usearch.vecdb").count() == 6  # readers are welcome
