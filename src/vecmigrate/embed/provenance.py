"""Embedding provenance: which model made a source's stored vectors, what the target records,
and what happens to rows that have no stored vector.

A census (one SQL aggregate per table) counts the stored vectors by model label and size
before anything is written. The policy that follows:
- the target's model is the label of the stored vectors (per-row `model` /
  `embedding_model` columns, else a config table, else "unknown");
- rows without a stored vector are embedded with that same model when vecmigrate has it;
  otherwise they are quarantined with a reason naming the model, unless the user passed
  `--embedder` (then the target records a mix, shown by status and verify);
- a source with no stored vector at all is embedded with `--embedder` (default lexical);
- labels that differ from each other and config tables that disagree with the data are
  reported, never silently trusted: a label is a claim, not a fact (`verify --model`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..db import quote_identifier
from ..errors import RowRejected, UsageError
from ..sources import Plan, SourceReader, stored_embedding
from .embedders import (
    LEXICAL,
    MINILM,
    MINILM_DIMENSION,
    Embedder,
    embed,
    load_embedder,
    model_of,
    spec_for_model,
    unavailable,
)

UNKNOWN = "unknown"
LABEL_MATCH = 0.99   # a stored vector is the labelled model's when re-embedding its text gets this close


@dataclass(frozen=True)
class Census:
    """Stored vectors of a plan's tables, counted before a run."""

    rows: int
    labels: dict[str, int]            # model label -> stored vectors ("unknown" when unlabelled)
    sizes: dict[str, int]             # "blob:<bytes>" / "json:<values>" / "text" / other type -> count
    declared: dict[int, int]          # dimension columns' values of BLOB vectors -> count
    missing: int                      # rows with no stored vector
    notes: tuple[str, ...] = ()       # what the census saw that a person should know

    @property
    def stored(self) -> int:
        return sum(self.labels.values())


def census(readers: list[SourceReader], plan: Plan) -> Census:
    labels: Counter = Counter()
    sizes: Counter = Counter()
    declared: Counter = Counter()
    notes: list[str] = []
    rows = missing = 0
    for reader in readers:
        lying = side_rows_read = 0
        part = reader.variant
        side = part.embedding_table
        joined = side is not None and reader.column_sql("__" + side.keys[0]) != "NULL"
        vector = reader.column_sql(part.embedding_column)
        label = reader.column_sql(part.model_column)
        dimension = reader.column_sql(part.dimension_column)
        size = (f"CASE typeof({vector}) WHEN 'null' THEN NULL WHEN 'blob' THEN 'blob:' || length({vector}) "
                f"WHEN 'text' THEN CASE WHEN json_valid({vector}) AND json_type({vector}) = 'array' "
                f"THEN 'json:' || json_array_length({vector}) ELSE 'text' END ELSE typeof({vector}) END")
        # labels as bytes and only integer dimensions: a value that is not UTF-8 text is its row's
        # problem (quarantined when the row is read), never the census's
        query = (f"SELECT CAST(CAST({label} AS TEXT) AS BLOB), {size}, "
                 f"CASE typeof({dimension}) WHEN 'integer' THEN {dimension} END, count(*), "
                 f"{'count(pick.__pick)' if joined else '0'} {reader.from_clause()} GROUP BY 1, 2, 3")
        for raw_label, row_size, row_dimension, count, read in reader.conn.execute(query):
            row_label = raw_label.decode("utf-8", "replace") if raw_label is not None else None
            rows += count
            side_rows_read += read
            if row_size is None:
                missing += count
                continue
            labels[canonical_model(row_label or plan.config_model or UNKNOWN)] += count
            sizes[row_size] += count
            if isinstance(row_dimension, int) and row_size.startswith("blob:"):
                declared[row_dimension] += count
            elif isinstance(row_dimension, int) and row_size.startswith("json:") and row_dimension != int(row_size[5:]):
                lying += count
        if joined:
            notes += _side_table_leftovers(reader, side_rows_read)
        if lying:
            notes.append(f"{reader.table}.{part.dimension_column} disagrees with the length of {lying} JSON-array "
                         f"vector(s): the arrays are trusted")
    return Census(rows=rows, labels=dict(labels), sizes=dict(sizes), declared=dict(declared), missing=missing,
                  notes=tuple(notes))


def _side_table_leftovers(reader: SourceReader, read: int) -> list[str]:
    """Side-table rows a run does not read (`read` of them are): extra vectors for one pattern
    (the last is read) and vectors naming no row of the table."""
    side = reader.variant.embedding_table
    total = reader.conn.execute(f"SELECT count(*) FROM {quote_identifier(side.table)}").fetchall()[0][0]
    if total == read:
        return []
    return [f"{total - read} row(s) of {side.table} are not read: vectors for a {reader.table} row that has a "
            f"later one, or naming no row of {reader.table} (the last vector of each row is migrated)"]


def best_cosine(embedder: Embedder, texts: list[str], stored: bytes, dimension: int) -> float:
    """The highest cosine between a stored float32 vector and the embedder's vectors of `texts`
    (the texts the source application may have embedded)."""
    vector = np.frombuffer(stored, dtype="<f4").astype(np.float64)
    made = embed(embedder, texts, dimension).astype(np.float64)
    norms = np.linalg.norm(made, axis=1) * (np.linalg.norm(vector) or 1.0)
    return float(np.max(made @ vector / np.where(norms > 0, norms, 1.0)))


def label_check(readers: list[SourceReader], spec: str, dimension: int, label: str, *, sample: int = 16
                ) -> str | None:
    """Whether stored vectors labelled `label` are that model's vectors of their text: None when
    a sample bears it out, else why not. Run before vecmigrate adds its own vectors of the
    labelled model beside them (a hash labelled all-MiniLM-L6-v2 is common in real files)."""
    embedder = load_embedder(spec, dimension)
    best: list[float] = []
    for reader in readers:
        for batch in reader.batches(200):
            for row in batch:
                if len(best) >= sample:
                    break
                if row.defect or (row.model or label) != label:
                    continue
                try:
                    blob = stored_embedding(row)
                    pattern = reader.variant.finish(reader.variant.map_row(row.values))
                except (RowRejected, RecursionError, OverflowError, ValueError, TypeError):
                    continue
                if blob is None or len(blob) != 4 * dimension:
                    continue
                best.append(best_cosine(embedder, reader.variant.texts_for_model(pattern), blob, dimension))
            break  # the first rows of each table are sample enough
    if not best:
        return None
    matching = sum(b >= LABEL_MATCH for b in best)
    if matching * 10 >= len(best) * 9:
        return None
    return (f"the stored vectors are labelled {label} but only {matching} of {len(best)} sampled are {label} "
            f"vectors of their text (median cosine {float(np.median(best)):.2f})")


MIN_DIMENSION, MAX_DIMENSION = 2, 1 << 16


def plausible_sizes(found: Census, width: int = 4) -> tuple[dict[int, int], dict[int, int]]:
    """({JSON array length: count}, {blob bytes: count}) of the stored vectors that could be
    vectors at all (2 to 65536 numbers, whole numbers of `width` bytes). Other values (empty,
    odd-sized, one number) are bad rows to quarantine, never a reason to pick or refuse a dimension."""
    json_sizes = {int(k[5:]): n for k, n in found.sizes.items() if k.startswith("json:")
                  and MIN_DIMENSION <= int(k[5:]) <= MAX_DIMENSION}
    blob_sizes = {int(k[5:]): n for k, n in found.sizes.items() if k.startswith("blob:")
                  and int(k[5:]) % width == 0 and MIN_DIMENSION <= int(k[5:]) // width <= MAX_DIMENSION}
    return json_sizes, blob_sizes


def infer_dimension(found: Census, *, float64: bool, claims: dict[str, int] | None = None
                    ) -> tuple[int | None, str | None]:
    """The dimension the stored vectors have (None when there are none) and a note on how it
    was decided when that took a guess (a config table claiming the same dimension settles it)."""
    declared = {d: n for d, n in found.declared.items() if isinstance(d, int) and MIN_DIMENSION <= d <= MAX_DIMENSION}
    if declared:
        return max(declared, key=declared.get), None
    width = 8 if float64 else 4
    json_sizes, blob_sizes = plausible_sizes(found, width)
    if json_sizes and sum(json_sizes.values()) >= sum(blob_sizes.values()):
        return max(json_sizes, key=json_sizes.get), None
    if not blob_sizes:
        return None, None
    common = max(blob_sizes, key=blob_sizes.get)
    if common // width in (claims or {}).values():
        return common // width, None
    kind = "float64 (--source-float64)" if float64 else "float32"
    other = ("" if float64 else
             f"; pass --source-float64 if they are {common // 8}-d float64" if common % 8 == 0 else "")
    return common // width, (f"no dimension column: read {common}-byte vectors as {common // width}-d {kind}"
                             f" (--dimension {common // width}){other}")


@dataclass(frozen=True)
class EmbeddingPolicy:
    """What the target records about its vectors and how rows without one are treated."""

    model: str                                   # the model of the target's vectors
    generate_with: "str | Callable | None"       # embedder for rows without a stored vector
    refuse_reason: str | None = None             # their quarantine reason when there is none
    stored_label: str = UNKNOWN                  # label for stored vectors that carry none
    generated_label: str | None = None           # label of generated vectors (None: the embedder's model)
    unverified: str | None = None                # why the stored vectors do not bear out their label
    mixed: bool = False
    notes: list[str] = field(default_factory=list)

    def to_meta(self) -> dict[str, str]:
        meta = {"model": self.model, "embedder": _spec_text(self.generate_with) if self.generate_with else ""}
        return {**meta, "model_unverified": self.unverified} if self.unverified else meta


def _spec_text(spec: "str | Callable") -> str:
    return spec if isinstance(spec, str) else "python"


def canonical_model(label: str) -> str:
    """One name per model: the labels of all-MiniLM-L6-v2 (`Xenova/...`, `sentence-transformers/...`)
    become `all-MiniLM-L6-v2`; any other label is kept as it is."""
    spec = spec_for_model(label)
    return model_of(spec) if spec else label


def decide(found: Census, plan: Plan, *, embedder: "str | Callable | None", embedder_name: str | None,
           recorded_model: str | None, dimension: int, same_source: bool = True,
           recorded_unverified: str | None = None,
           check_label: "Callable[[str, str], str | None] | None" = None) -> EmbeddingPolicy:
    """The embedding policy of a run (see the module docstring). `embedder` is what the user
    asked for (None: nothing asked); `embedder_name` the model name it records;
    `recorded_model` the model of the target's vectors (None for a new or empty target);
    `same_source` whether the target was fed only from this source and table(s) before (an
    "unknown" model matches only itself from the same source); `recorded_unverified` why the
    target's vectors were found not to bear out their label; `check_label(spec, label)` says
    why stored vectors do not bear out their label (None when they do).

    vecmigrate's own vectors of a model never join vectors that only claim to be that model
    under the same label: they are labelled "<model> (made by vecmigrate)", so the mix shows."""
    notes = list(found.notes) + _disagreements(found, plan, dimension)
    if found.stored == 0:
        chosen = embedder or spec_for_model(recorded_model) or LEXICAL
        model = embedder_name or (model_of(chosen) if isinstance(chosen, str) else _spec_text(chosen))
        notes += _same_as_recorded(model, recorded_model, same_source)
        generated = _apart(model, recorded_unverified, notes) if model == recorded_model else None
        return EmbeddingPolicy(model=model, generate_with=chosen, generated_label=generated,
                               unverified=recorded_unverified, mixed=generated is not None, notes=notes)
    model = max(found.labels, key=found.labels.get)
    if len(found.labels) > 1:
        listed = ", ".join(f"{k} ({n})" for k, n in sorted(found.labels.items(), key=lambda kv: -kv[1]))
        notes.append(f"stored vectors carry different model labels: {listed}; the target records {model} "
                     f"(check them with `vecmigrate verify --model`)")
    notes += _same_as_recorded(model, recorded_model, same_source)
    stored_label = plan.config_model or UNKNOWN
    if found.missing == 0:
        return EmbeddingPolicy(model=model, generate_with=None, stored_label=stored_label,
                               unverified=recorded_unverified, notes=notes)
    own = spec_for_model(model)
    why = unavailable(own) if own else f"vecmigrate has no embedder for {model!r}"
    if own == MINILM and why is None and dimension != MINILM_DIMENSION:
        why = f"the stored vectors have {dimension} dimensions and {model} makes {MINILM_DIMENSION}: the label is wrong"
    asked = None if embedder is None else (embedder_name or (model_of(embedder) if isinstance(embedder, str)
                                                              else _spec_text(embedder)))
    unverified = recorded_unverified
    if own and why is None and check_label is not None and asked in (None, model):
        unverified = check_label(own, model) or unverified
    if asked is not None:
        generated = None
        if asked != model:
            notes.append(f"{found.missing} row(s) without a stored vector get {asked} vectors beside "
                         f"{found.stored} {model} vectors (asked for with --embedder): the target records the mix")
        else:
            generated = _apart(model, unverified, notes)
        return EmbeddingPolicy(model=model, generate_with=embedder, stored_label=stored_label,
                               generated_label=generated, unverified=unverified,
                               mixed=asked != model or generated is not None, notes=notes)
    if own and why is None and unverified:
        why = unverified
        notes.append(f"{unverified}: vecmigrate does not add {model} vectors beside them")
    if own and why is None:
        return EmbeddingPolicy(model=model, generate_with=own, stored_label=stored_label, notes=notes)
    reason = (f"no stored vector, and this source's vectors are {model}, which vecmigrate cannot make here "
              f"({why}); pass --embedder to accept another model's vectors in this target")
    return EmbeddingPolicy(model=model, generate_with=None, refuse_reason=reason, stored_label=stored_label,
                           unverified=unverified, notes=notes)


def _apart(model: str, unverified: str | None, notes: list[str]) -> str | None:
    """The label for vecmigrate's own `model` vectors beside vectors that only claim to be `model`."""
    if not unverified:
        return None
    label = f"{model} (made by vecmigrate)"
    notes.append(f"{unverified}; the {model} vectors vecmigrate makes are labelled {label!r} so that the mix shows")
    return label


def _same_as_recorded(model: str, recorded: str | None, same_source: bool) -> list[str]:
    """Refuses a second model; returns a note when nothing can tell (unknown beside unknown)."""
    if not recorded:
        return []
    if recorded != model:
        raise UsageError(f"the target holds {recorded} vectors and this run would add {model} vectors; "
                         f"two models cannot share an index: use a new --target")
    if model == UNKNOWN and not same_source:
        return ["the target already holds vectors of an unknown model from another source, and this source's "
                "vectors are of an unknown model too: nothing says they are the same model (if they are not, "
                "similarity between the two sets means nothing; use a new --target)"]
    return []


def _disagreements(found: Census, plan: Plan, dimension: int) -> list[str]:
    notes = []
    for where, claimed in plan.config_dimensions.items():
        if claimed != dimension and found.stored:
            notes.append(f"{where} says {claimed} dimensions but the stored vectors have {dimension}: "
                         f"the vectors are trusted")
    config = canonical_model(plan.config_model) if plan.config_model else None
    if config and any(label not in (config, UNKNOWN) for label in found.labels):
        notes.append(f"the config table names the model {plan.config_model} but rows are labelled "
                     f"{', '.join(sorted(set(found.labels) - {config}))}")
    return notes
