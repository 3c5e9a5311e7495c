import pytest

from vecmigrate import transform as t
from vecmigrate.errors import RowRejected

JAN_1_2025_MS = 1735689600000


@pytest.mark.parametrize("value, unit", [
    ("2025-01-01 00:00:00", "text"), ("2025-01-01T00:00:00Z", "text"), ("2025-01-01T01:00:00+01:00", "text"),
    (1735689600, "s"), (1735689600, "auto"), (JAN_1_2025_MS, "ms"), (JAN_1_2025_MS, "auto"),
    ("1735689600", "auto"), (1735689600.0, "s"),
])
def test_every_timestamp_form_becomes_epoch_ms_utc(value, unit):
    assert t.to_epoch_ms(value, "created_at", unit) == JAN_1_2025_MS


def test_bad_timestamp_names_the_column():
    with pytest.raises(RowRejected, match="column updated_at is not a valid timestamp"):
        t.to_epoch_ms("yesterday-ish", "updated_at")
    assert t.to_epoch_ms(None, "x") is None


@pytest.mark.parametrize("rate, verdict, flakiness", [
    (0.95, "success", 0.0), (0.9, "success", 0.0), (0.85, "flaky", 0.0), (0.75, "flaky", 0.25),
    (0.7, "flaky", pytest.approx(0.3)), (0.2, "failure", 0.8), (None, None, None),
])
def test_verdict_and_flakiness_follow_the_original_rules(rate, verdict, flakiness):
    assert t.verdict_for(rate) == verdict
    assert t.flakiness_for(rate) == flakiness


def test_malformed_json_names_the_column():
    with pytest.raises(RowRejected, match="malformed JSON in column examples"):
        t.parse_json({"examples": "[1, 2"}, "examples")
    assert t.parse_json({"examples": None}, "examples", default=[]) == []


def test_metadata_clash_keeps_the_original():
    merged = t.merge_metadata({"confidence": "high", "x": 1}, {"confidence": 0.5})
    assert merged["confidence"] == 0.5
    assert merged["sourceMetadata"] == {"confidence": "high", "x": 1}
    assert "sourceMetadata" not in t.merge_metadata({"x": 1}, {"y": 2})


def test_required_field_missing():
    with pytest.raises(RowRejected, match="missing required field name"):
        t.required_text({"name": "  "}, "name")
