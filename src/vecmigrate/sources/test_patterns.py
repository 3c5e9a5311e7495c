"""test-patterns: the test generator's `test_patterns` table (signatures and test templates).

Mapping:
  content  = "Pattern: {pattern_type}\\nFramework: {framework}\\nLanguage: {language}\\nSignature: {code_signature}\\nTemplate: {test_template}"
  type     = pattern_type      domain = framework, or 'unknown'     framework = framework
  created_at / last_used = created_at / updated_at (unix seconds) in ms
  embedding = the stored float32 blob when the copy has an `embedding` column, else generated
  metadata = source metadata + language, codeSignatureHash, codeSignature, testTemplate, version
             (text kept verbatim) (+ sourceColumns for any other column)
"""

from __future__ import annotations

from ..models import Pattern
from . import reverse as r
from . import transform as t
from .base import Variant

CONSUMED = {"id", "pattern_type", "framework", "language", "code_signature_hash", "code_signature",
            "test_template", "metadata", "version", "created_at", "updated_at", "embedding"}


def to_pattern(v: dict) -> Pattern:
    pattern_id = t.required_text(v, "id")
    pattern_type = t.required_text(v, "pattern_type")
    framework = t.optional_text(v, "framework")
    language = t.optional_text(v, "language")
    signature = t.optional_text(v, "code_signature")
    template = t.optional_text(v, "test_template")
    content = (f"Pattern: {pattern_type}\nFramework: {framework or 'unknown'}\nLanguage: {language or 'unknown'}\n"
               f"Signature: {signature or ''}\nTemplate: {template or ''}")
    extra = {"language": language, "codeSignatureHash": v.get("code_signature_hash"),
             "codeSignature": signature, "testTemplate": template, "version": v.get("version")}
    leftovers = t.leftover_columns(v, CONSUMED)
    if leftovers:
        extra["sourceColumns"] = leftovers
    return Pattern(
        id=pattern_id, content=content, type=pattern_type, domain=framework or "unknown", framework=framework,
        created_at=t.to_epoch_ms(v.get("created_at"), "created_at", "s"),
        last_used=t.to_epoch_ms(v.get("updated_at"), "updated_at", "s"),
        metadata=t.merge_metadata(t.parse_metadata(v), extra),
    )


def to_row(p: Pattern) -> dict:
    """The reverse: the NOT NULL columns get the pattern's values or empty text."""
    md = p.metadata
    return {**r.leftovers(p), "id": r.source_id(p, VARIANT), "pattern_type": p.type or "pattern",
            "framework": p.framework if p.framework is not None else (p.domain or "unknown"),
            "language": md.get("language") or "unknown", "code_signature_hash": md.get("codeSignatureHash") or p.id,
            "code_signature": md.get("codeSignature") or "", "test_template": md.get("testTemplate") or p.content,
            "metadata": r.metadata_text(p, {"language", "codeSignatureHash", "codeSignature", "testTemplate",
                                            "version"}),
            "version": md.get("version") or "1.0.0", "created_at": r.timestamp(p.created_at if p.created_at is not None else r.now_ms(), "s"),
            "updated_at": r.timestamp(p.last_used if p.last_used is not None else r.now_ms(), "s")}


DDL = (
    "CREATE TABLE test_patterns (id TEXT PRIMARY KEY NOT NULL, pattern_type TEXT NOT NULL, framework TEXT NOT NULL,"
    " language TEXT NOT NULL, code_signature_hash TEXT NOT NULL, code_signature TEXT NOT NULL,"
    " test_template TEXT NOT NULL, metadata TEXT, version TEXT NOT NULL DEFAULT '1.0.0', created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL, UNIQUE(code_signature_hash, framework))",
)


VARIANT = Variant(
    name="test-patterns", table="test_patterns",
    telling_columns=frozenset({"id", "pattern_type", "code_signature_hash", "test_template"}),
    map_row=to_pattern, to_row=to_row, ddl=DDL, embedding_column="embedding", description=__doc__.strip().splitlines()[0],
)
