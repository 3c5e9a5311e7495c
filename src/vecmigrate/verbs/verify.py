"""`verify`: cross-validation of a target. The vec0 mirror is exact; USearch is checked
against it (key sets, vectors byte for byte, exact search, ANN recall), and the target
against its source or another target when given. Reads only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import apsw
import numpy as np
from usearch.index import Index

from ..db import open_source_snapshot
from ..embed.embedders import load_embedder, spec_for_model, unavailable
from ..embed.provenance import LABEL_MATCH, best_cosine
from ..errors import RowRejected
from ..models import Pattern, VerifyReport
from ..sources import SourceReader, detect, find_variant, plan_of_run, stored_embedding
from ..sources.base import join_id
from ..target import changelog, ledger, lineage
from ..target import database as tgt
from ..target.index_file import IndexSettings, load_checked

SHOW = 5  # differences listed per check


class Checks:
    """Collects named checks and the first differences each one found."""

    def __init__(self) -> None:
        self.checks: dict[str, dict[str, Any]] = {}
        self.differences: list[str] = []

    def add(self, name: str, ok: bool, differences: list[str] = (), **figures: Any) -> None:
        self.checks[name] = {"ok": bool(ok), **figures}
        self.differences += [f"{name}: {d}" for d in list(differences)[:SHOW]]

    @property
    def ok(self) -> bool:
        return all(c["ok"] for c in self.checks.values())

    def report(self) -> VerifyReport:
        return VerifyReport(ok=self.ok, checks=self.checks, differences=self.differences)


def mirror_vectors(conn: apsw.Connection, keys: list[int] | None = None) -> dict[int, bytes]:
    if keys is None:
        return {r[0]: r[1] for r in conn.execute("SELECT rowid, embedding FROM patterns_vec")}
    return {k: r[0][0] for k in keys
            if (r := conn.execute("SELECT embedding FROM patterns_vec WHERE rowid = ?", (k,)).fetchall())}


def check_consistency(checks: Checks, conn: apsw.Connection, settings: IndexSettings, index: Index | None, *,
                      sample: int | None, k: int, queries: int, min_recall: float, seed: int = 0) -> None:
    """Counts, key sets, vectors, exact search and ANN recall of `index` against vec0."""
    pattern_keys = {r[0] for r in conn.execute("SELECT key FROM patterns")}
    vec_keys = {r[0] for r in conn.execute("SELECT rowid FROM patterns_vec")}
    index_keys = set(np.asarray(index.keys).tolist()) if index is not None else vec_keys  # (older usearch cannot iterate keys)
    checks.add("counts", len(pattern_keys) == len(vec_keys) == len(index_keys), patterns=len(pattern_keys),
               vec0=len(vec_keys), usearch=len(index_keys) if index is not None else None)
    differences = ([f"key {key} is in patterns but not in vec0" for key in sorted(pattern_keys - vec_keys)]
                   + [f"key {key} is in vec0 but not in patterns" for key in sorted(vec_keys - pattern_keys)]
                   + [f"key {key} is in vec0 but not in USearch" for key in sorted(vec_keys - index_keys)]
                   + [f"key {key} is in USearch but not in vec0" for key in sorted(index_keys - vec_keys)])
    checks.add("key_sets", not differences, differences)
    if index is None or not vec_keys:
        return
    rng = np.random.default_rng(seed)
    common = sorted(vec_keys & index_keys)
    picked = common if sample is None or sample >= len(common) else sorted(rng.choice(common, sample, replace=False).tolist())
    exact = mirror_vectors(conn, picked)
    stored = index.get(np.asarray(picked, dtype=np.uint64), dtype=np.float32)
    differences = []
    for key, vector in zip(picked, stored):
        mine = np.frombuffer(exact[key], dtype="<f4")
        if settings.dtype == "f32":
            if np.asarray(vector, dtype="<f4").tobytes() != exact[key]:
                differences.append(f"key {key}: USearch vector differs from vec0")
        elif float(np.dot(vector, mine) / (np.linalg.norm(vector) * np.linalg.norm(mine))) < 0.99:
            differences.append(f"key {key}: USearch {settings.dtype} vector is not within 1% of vec0's")
    checks.add("vectors", not differences, differences, compared=len(picked),
               rule="byte-equal" if settings.dtype == "f32" else "cosine >= 0.99 (lossy dtype)")
    query_keys = picked if len(picked) <= queries else sorted(rng.choice(picked, queries, replace=False).tolist())
    agree, recall, differences = 0, [], []
    kk = min(k, len(vec_keys))
    for key in query_keys:
        query = np.frombuffer(exact[key], dtype="<f4")
        truth = conn.execute("SELECT rowid, distance FROM patterns_vec WHERE embedding MATCH ? AND k = ? "
                             "ORDER BY distance", (exact[key], kk)).fetchall()
        truth_keys = [r[0] for r in truth]
        brute = index.search(query, kk, exact=True)
        ann = index.search(query, kk)
        same = set(brute.keys.tolist()) == set(truth_keys) or _same_distances(brute.distances, [r[1] for r in truth],
                                                                              settings)
        agree += same
        if not same:
            differences.append(f"query key {key}: exact USearch top-{kk} {brute.keys.tolist()} != vec0 {truth_keys}")
        recall.append(len(set(ann.keys.tolist()) & set(truth_keys)) / kk)
    checks.add("exact_search", agree == len(query_keys), differences, queries=len(query_keys), agreeing=agree)
    mean_recall = float(np.mean(recall)) if recall else 1.0
    checks.add("ann_recall", mean_recall >= min_recall,
               [] if mean_recall >= min_recall else [f"recall@{kk} {mean_recall:.4f} < {min_recall}"],
               recall_at_k=round(mean_recall, 4), k=kk, queries=len(query_keys), minimum=min_recall)


def _same_distances(got, want, settings: IndexSettings) -> bool:
    got = np.sqrt(np.maximum(got, 0)) if settings.metric == "l2sq" else np.asarray(got)
    return len(got) == len(want) and np.allclose(got, want, atol=1e-4)


def verify(target: str | Path, *, source: str | Path | None = None, against: str | Path | None = None,
           sample: int | None = None, k: int = 10, queries: int = 50, min_recall: float = 0.9,
           model: bool = False, model_sample: int = 100) -> VerifyReport:
    checks = Checks()
    generation, conn, meta = tgt.open_existing(target, readonly=True)
    try:
        settings = tgt.settings_of(meta)
        with changelog.reading(conn):  # the file and the seq it holds, as one writer saved them
            saved = tgt.read_meta(conn)
            index, problem = load_checked(generation.index, settings, saved)
        checks.add("index_file", problem is None, [problem] if problem else [], path=str(generation.index))
        if index is not None:  # writes after the last save: expected lag, caught up the way every open does
            tgt.catch_up(conn, index, int(saved.get("index_seq") or 0), settings.dimension)
        check_consistency(checks, conn, settings, index, sample=sample, k=k, queries=queries, min_recall=min_recall)
        integrity = conn.execute("PRAGMA integrity_check").fetchall()[0][0]
        checks.add("sqlite_integrity", integrity == "ok", [] if integrity == "ok" else [integrity])
        check_models(checks, conn, meta)
        if model:
            check_model_labels(checks, conn, model_sample)
        if source is not None:
            _against_source(checks, conn, Path(source))
        if against is not None:
            _against_target(checks, conn, Path(against))
    finally:
        conn.close()
    return checks.report()


def _against_source(checks: Checks, conn: apsw.Connection, source: Path) -> None:
    """Every source row of every table the run read is in the target or quarantined; stored
    embeddings are byte-equal (JSON-array embeddings: equal to their float32 values)."""
    run = ledger.last_run(conn, str(source.resolve()))  # the last run that read this source, if any
    quarantined = {(r[0], r[1]) for r in conn.execute("SELECT source_table, source_rowid FROM quarantine"
                                                      + (" WHERE run_id = ?" if run else ""),
                                                      (run["run_id"],) if run else ())}
    target_vectors = {r[0]: r[1] for r in conn.execute(
        "SELECT p.id, v.embedding FROM patterns p JOIN patterns_vec v ON v.rowid = p.key")}
    missing, differing, compared, rows, counted = [], [], 0, 0, 0
    stale: list[str] = []  # source rows changed or deleted since the target last read them
    with open_source_snapshot(source) as src:
        plan = plan_of_run(src, run) if run else detect(src)
        fed = lineage.find_source(conn, source.resolve(), plan.tables)
        namespace = json.loads(fed["identity"]).get("namespace") if fed else None
        for part in plan.parts:
            known = lineage.lineage_of(conn, fed["source_id"], part.table) if fed else {}
            quarantined |= {(part.table, rowid) for rowid, (key, _) in known.items() if key is None}
            with SourceReader(src, part) as reader:
                counted += reader.count()  # every row is read, whatever its rowid: checked, not assumed
                for batch in reader.batches(5000):
                    for row in batch:
                        rows += 1
                        was = known.pop(row.rowid, None)
                        if was is not None and was[1] != lineage.row_hash(row):
                            stale.append(f"{part.table} row {row.rowid} changed in the source since the target "
                                         f"last read it (run `vecmigrate sync` or `migrate`)")
                        if (part.table, row.rowid) in quarantined or row.defect:
                            continue
                        pattern_id = _target_id(part, row.values)
                        if namespace and pattern_id is not None:
                            pattern_id = f"{namespace}/{pattern_id}"
                        if pattern_id not in target_vectors:
                            missing.append(f"{part.table} row {row.rowid} (id {pattern_id!r}) is not in the target")
                            continue
                        try:
                            blob = stored_embedding(row)
                        except RowRejected:
                            blob = None
                        if blob is not None:
                            compared += 1
                            if blob != target_vectors[pattern_id] and not _same_as_float64(blob, target_vectors[pattern_id]):
                                differing.append(f"id {pattern_id!r}: stored embedding differs from the source's")
            held = [rowid for rowid, (key, _) in known.items() if key is not None and conn.execute(
                "SELECT 1 FROM patterns WHERE key = ?", (key,)).fetchall()]
            stale += [f"{part.table} row {rowid} was deleted from the source; its pattern is still in the target"
                      for rowid in held]
    if rows != counted:
        missing.insert(0, f"read {rows} of the {counted} source rows")
    checks.add("source_rows_current", not stale, stale, stale=len(stale), lineage=fed is not None)
    checks.add("source_ids", not missing, missing, missing=len(missing), source_rows=counted,
               tables=",".join(plan.tables))
    checks.add("source_embeddings", not differing, differing, compared=compared)


def _target_id(part, values: dict) -> str | None:
    texts = [values.get(c) for c in part.id_columns]
    if any(v is None for v in texts):
        return None
    return part.target_id(join_id([str(v) for v in texts]))


def check_models(checks: Checks, conn: apsw.Connection, meta: dict[str, str]) -> None:
    """Which models made the target's vectors (a mix is shown, not hidden)."""
    mix = tgt.vectors_by_model(conn)
    notes = json.loads(meta.get("model_notes") or "[]")
    checks.add("models", True, model=meta.get("model"), vectors_by_model=mix, mixed=len(mix) > 1,
               notes=len(notes))
    checks.differences += [f"models: {note}" for note in notes[:SHOW]]


def check_model_labels(checks: Checks, conn: apsw.Connection, sample: int, seed: int = 0) -> None:
    """Re-embed a sample of stored vectors with the model their label names; count how many
    are that model's vectors of their text (cosine >= LABEL_MATCH for one of the texts the
    source application may have embedded)."""
    run = ledger.last_run(conn)
    layout = run["schema"] if run else ""
    labels = tgt.vectors_by_model(conn).items()
    rng = np.random.default_rng(seed)
    for label, count in labels:
        name = f"model_label[{label}]"
        spec = spec_for_model(label)
        why = unavailable(spec) if spec else f"vecmigrate has no embedder for {label!r}"
        if why:
            checks.add(name, False, [f"cannot check {count} vectors labelled {label}: {why}"], vectors=count)
            continue
        keys = [r[0] for r in conn.execute("SELECT key FROM patterns WHERE coalesce(embedding_model, 'unknown') = ?",
                                           (label,))]
        picked = keys if len(keys) <= sample else sorted(rng.choice(keys, sample, replace=False).tolist())
        dimension = int(conn.execute("SELECT value FROM vecmigrate_meta WHERE key = 'dimension'").fetchall()[0][0])
        embedder = load_embedder(spec, dimension)
        best: list[float] = []
        for key in picked:
            row = conn.execute("SELECT p.id, p.content, p.kind, p.metadata, v.embedding FROM patterns p"
                               " JOIN patterns_vec v ON v.rowid = p.key WHERE p.key = ?", (key,)).fetchall()[0]
            pattern = Pattern(id=row[0], content=row[1] or "", kind=row[2], metadata=json.loads(row[3] or "{}"))
            variant = find_variant(layout, pattern.kind)
            texts = variant.texts_for_model(pattern) if variant else [pattern.content]
            best.append(best_cosine(embedder, texts, row[4], dimension))
        matched = sum(b >= LABEL_MATCH for b in best)
        ok = matched == len(best)
        message = [] if ok else [
            f"{len(best) - matched} of {len(best)} sampled vectors labelled {label} are not {label} vectors of their "
            f"text (median best cosine {float(np.median(best)):.3f}): the label is a claim the vectors do not bear out; "
            f"text search on them is not meaningful"]
        checks.add(name, ok, message, sampled=len(best), matching=matched, vectors=count,
                   median_cosine=round(float(np.median(best)), 4) if best else None, rule=f"cosine >= {LABEL_MATCH}")


def _same_as_float64(source_blob: bytes, target_blob: bytes) -> bool:
    """A float64 source blob (migrated with --source-float64) matches its float32 conversion."""
    if len(source_blob) != 2 * len(target_blob):
        return False
    return np.frombuffer(source_blob, "<f8").astype("<f4").tobytes() == target_blob


def _against_target(checks: Checks, conn: apsw.Connection, other: Path) -> None:
    """Ids and vectors equal to another target's (e.g. the two sides of a dual write)."""
    mine = {r[0]: r[1] for r in conn.execute("SELECT p.id, v.embedding FROM patterns p JOIN patterns_vec v ON v.rowid = p.key")}
    _, other_conn, _ = tgt.open_existing(other, readonly=True)
    try:
        theirs = {r[0]: r[1] for r in other_conn.execute(
            "SELECT p.id, v.embedding FROM patterns p JOIN patterns_vec v ON v.rowid = p.key")}
    finally:
        other_conn.close()
    differences = ([f"id {i!r} only in this target" for i in sorted(mine.keys() - theirs.keys())]
                   + [f"id {i!r} only in {other}" for i in sorted(theirs.keys() - mine.keys())]
                   + [f"id {i!r}: vectors differ" for i in sorted(mine.keys() & theirs.keys()) if mine[i] != theirs[i]])
    checks.add("against_target", not differences, differences, other=str(other), this_count=len(mine),
               other_count=len(theirs))
