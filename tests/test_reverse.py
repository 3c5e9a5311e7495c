"""The reverse mappings (sources/reverse.py and each layout's to_row): a pattern written back as
a source row maps forward to a pattern whose row is the same again, for every layout."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vecmigrate.models import Pattern
from vecmigrate.sources import VARIANTS, GenericMapping
from vecmigrate.sources.base import join_id
from vecmigrate.sources.reverse import row_for, timestamp
from vecmigrate.sources.transform import to_epoch_ms

INTEGER_IDS = {"agentdb-service", "reasoningbank-model", "reasoning-bank", "agentdb-native"}
GENERIC = GenericMapping(table="memory_entries", id_columns=("namespace", "key"), text_columns=("value",)).variant()
ALL = [*VARIANTS, GENERIC]

words = st.text(alphabet=string.ascii_letters + " :-_\\é", min_size=1, max_size=12).filter(lambda s: s.strip())
moments = st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000)  # 2000 .. 2100, ms


@st.composite
def patterns(draw, variant):
    number = draw(st.integers(min_value=1, max_value=10**9))
    own = str(number) if variant.name in INTEGER_IDS else draw(words)
    if variant is GENERIC:
        own = join_id([draw(words), draw(words)])
    metadata = draw(st.dictionaries(st.sampled_from(["note", "owner", "score"]), st.one_of(words, st.integers(0, 99)),
                                    max_size=2))
    return Pattern(id=variant.id_prefix + own, content=draw(words), type=draw(st.none() | words),
                   domain=draw(st.none() | words), framework=draw(st.none() | words),
                   coverage=draw(st.none() | st.floats(0, 1)), created_at=draw(st.none() | moments),
                   last_used=draw(st.none() | moments), usage_count=draw(st.none() | st.integers(0, 10**6)),
                   metadata=metadata, kind=variant.kind)


@pytest.mark.parametrize("variant", ALL, ids=lambda v: f"{v.name}:{v.table}")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_written_back_row_reads_back_as_the_same_row(variant, data):
    pattern = data.draw(patterns(variant))
    first = variant.to_row(pattern)
    again = variant.to_row(variant.finish(variant.map_row(first)))
    assert again == first
    # laid over the row it came from, an unchanged pattern changes nothing
    assert row_for(variant, variant.finish(variant.map_row(first)), None, first) == first


@pytest.mark.parametrize("variant", ALL, ids=lambda v: f"{v.name}:{v.table}")
def test_a_written_back_row_keeps_what_the_application_reads(variant):
    """The old application sees the pattern: its id, its text and its kind of row."""
    own = "42" if variant.name in INTEGER_IDS else ("ns:k1" if variant is GENERIC else "p-1")
    pattern = Pattern(id=variant.id_prefix + own, content="retry the flaky login test", type="unit",
                      domain="auth", created_at=1_735_689_600_000, usage_count=3, kind=variant.kind)
    back = variant.finish(variant.map_row(variant.to_row(pattern)))
    assert back.id == pattern.id
    assert "retry the flaky login test" in back.content
    assert back.created_at in (None, pattern.created_at)


@given(ms=moments, unit=st.sampled_from(["text", "s", "ms"]))
def test_timestamps_come_back_in_their_columns_form(ms, unit):
    value = timestamp(ms, unit)
    expected = ms - ms % 1000 if unit == "s" else ms
    assert to_epoch_ms(value, "t", unit) == expected
