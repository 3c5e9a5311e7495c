"""validate(store): is an open store consistent and usable? Reads only, never writes."""

from __future__ import annotations

from ..models import StoreValidation
from ..verbs.verify import Checks, check_consistency
from .base import StoreBase


def validate_store(store: StoreBase, *, sample: int = 200, queries: int = 10, k: int = 10,
                   min_recall: float = 0.9) -> StoreValidation:
    checks = Checks()
    index = getattr(store, "index", None)
    check_consistency(checks, store.conn, store.settings, index, sample=sample, k=k, queries=queries,
                      min_recall=min_recall)
    probe = store.conn.execute("SELECT id FROM patterns ORDER BY key LIMIT 1").fetchall()
    if probe:
        hits = store.search_id(probe[0][0], k=1)
        checks.add("self_search", bool(hits) and hits[0].id == probe[0][0],
                   [] if hits and hits[0].id == probe[0][0] else [f"pattern {probe[0][0]!r} does not find itself"])
    return StoreValidation(valid=checks.ok, errors=checks.differences, stats=store.stats())
