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

from .embedders import LEXICAL, model_of, spec_for_model, unavailable
from .errors import UsageError
from .sources import Plan, SourceReader

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Census:
    """Stored vectors of a plan's tables, counted before a run."""

    rows: int
    labels: dict[str, int]            # model label -> stored vectors ("unknown" when unlabelled)
    sizes: dict[str, int]             # "blob:<bytes>" / "json:<values>" / "text" / other type -> count
    declared: dict[int, int]          # dimension columns' values -> count
    missing: int                      # rows with no stored vector

    @property
    def stored(self) -> int:
        return sum(self.labels.values())


def census(readers: list[SourceReader], plan: Plan) -> Census:
    labels: Counter = Counter()
    sizes: Counter = Counter()
    declared: Counter = Counter()
    rows = missing = 0
    for reader in readers:
        part = reader.variant
        vector = reader.column_sql(part.embedding_column)
        label = reader.column_sql(part.model_column)
        dimension = reader.column_sql(part.dimension_column)
        size = (f"CASE typeof({vector}) WHEN 'null' THEN NULL WHEN 'blob' THEN 'blob:' || length({vector}) "
                f"WHEN 'text' THEN CASE WHEN json_valid({vector}) AND json_type({vector}) = 'array' "
                f"THEN 'json:' || json_array_length({vector}) ELSE 'text' END ELSE typeof({vector}) END")
        query = (f"SELECT CAST({label} AS TEXT), {size}, {dimension}, count(*) {reader.from_clause()} "
                 f"GROUP BY 1, 2, 3")
        for row_label, row_size, row_dimension, count in reader.conn.execute(query):
            rows += count
            if row_size is None:
                missing += count
                continue
            labels[row_label or plan.config_model or UNKNOWN] += count
            sizes[row_size] += count
            if isinstance(row_dimension, int):
                declared[row_dimension] += count
    return Census(rows=rows, labels=dict(labels), sizes=dict(sizes), declared=dict(declared), missing=missing)


def infer_dimension(found: Census, *, float64: bool) -> tuple[int | None, str | None]:
    """The dimension the stored vectors have (None when there are none) and a note on how it
    was decided when that took a guess."""
    if found.declared:
        return max(found.declared, key=found.declared.get), None
    json_sizes = {int(k[5:]): n for k, n in found.sizes.items() if k.startswith("json:")}
    blob_sizes = {int(k[5:]): n for k, n in found.sizes.items() if k.startswith("blob:")}
    if json_sizes and sum(json_sizes.values()) >= sum(blob_sizes.values()):
        return max(json_sizes, key=json_sizes.get), None
    if not blob_sizes:
        return None, None
    common = max(blob_sizes, key=blob_sizes.get)
    width = 8 if float64 else 4
    if common % width:
        return None, None
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
    mixed: bool = False
    notes: list[str] = field(default_factory=list)

    def to_meta(self) -> dict[str, str]:
        return {"model": self.model, "embedder": _spec_text(self.generate_with) if self.generate_with else ""}


def _spec_text(spec: "str | Callable") -> str:
    return spec if isinstance(spec, str) else "python"


def decide(found: Census, plan: Plan, *, embedder: "str | Callable | None", embedder_name: str | None,
           recorded_model: str | None, dimension: int) -> EmbeddingPolicy:
    """The embedding policy of a run (see the module docstring). `embedder` is what the user
    asked for (None: nothing asked); `embedder_name` the model name it records."""
    notes = _disagreements(found, plan, dimension)
    if found.stored == 0:
        chosen = embedder or spec_for_model(recorded_model) or LEXICAL
        model = embedder_name or (model_of(chosen) if isinstance(chosen, str) else _spec_text(chosen))
        _same_as_recorded(model, recorded_model)
        return EmbeddingPolicy(model=model, generate_with=chosen, notes=notes)
    model = max(found.labels, key=found.labels.get)
    if len(found.labels) > 1:
        listed = ", ".join(f"{k} ({n})" for k, n in sorted(found.labels.items(), key=lambda kv: -kv[1]))
        notes.append(f"stored vectors carry different model labels: {listed}; the target records {model} "
                     f"(check them with `vecmigrate verify --model`)")
    _same_as_recorded(model, recorded_model)
    stored_label = plan.config_model or UNKNOWN
    if found.missing == 0:
        return EmbeddingPolicy(model=model, generate_with=None, stored_label=stored_label, notes=notes)
    if embedder is not None:
        name = embedder_name or (model_of(embedder) if isinstance(embedder, str) else _spec_text(embedder))
        mixed = name != model
        if mixed:
            notes.append(f"{found.missing} row(s) without a stored vector get {name} vectors beside "
                         f"{found.stored} {model} vectors (asked for with --embedder): the target records the mix")
        return EmbeddingPolicy(model=model, generate_with=embedder, stored_label=stored_label, mixed=mixed,
                               notes=notes)
    own = spec_for_model(model)
    why = unavailable(own) if own else f"vecmigrate has no embedder for {model!r}"
    if own and why is None:
        return EmbeddingPolicy(model=model, generate_with=own, stored_label=stored_label, notes=notes)
    reason = (f"no stored vector, and this source's vectors are {model}, which vecmigrate cannot make here "
              f"({why}); pass --embedder to accept another model's vectors in this target")
    return EmbeddingPolicy(model=model, generate_with=None, refuse_reason=reason, stored_label=stored_label,
                           notes=notes)


def _same_as_recorded(model: str, recorded: str | None) -> None:
    if recorded and recorded != model:
        raise UsageError(f"the target holds {recorded} vectors and this run would add {model} vectors; "
                         f"two models cannot share an index: use a new --target")


def _disagreements(found: Census, plan: Plan, dimension: int) -> list[str]:
    notes = []
    for where, claimed in plan.config_dimensions.items():
        if claimed != dimension and found.stored:
            notes.append(f"{where} says {claimed} dimensions but the stored vectors have {dimension}: "
                         f"the vectors are trusted")
    if plan.config_model and any(label not in (plan.config_model, UNKNOWN) for label in found.labels):
        notes.append(f"the config table names the model {plan.config_model} but rows are labelled "
                     f"{', '.join(sorted(set(found.labels) - {plan.config_model}))}")
    return notes
