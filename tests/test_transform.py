import pytest

from vecmigrate.errors import RowRejected
from vecmigrate.sources import transform as t

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


def _utc(*parts, offset_minutes=0, micro=0) -> int:
    """The expected epoch ms, built with datetime and an explicit zone (independent of the parser)."""
    from datetime import datetime, timedelta, timezone
    moment = datetime(*parts, microsecond=micro, tzinfo=timezone(timedelta(minutes=offset_minutes)))
    return round(moment.timestamp() * 1000)


# Every form seen in real-layouts.md, and the edge forms Python 3.10's fromisoformat refuses.
TIMESTAMP_FORMS = [
    ("2025-10-03 08:15:42", _utc(2025, 10, 3, 8, 15, 42)),                        # SQLite CURRENT_TIMESTAMP
    ("2025-10-03T08:15:42", _utc(2025, 10, 3, 8, 15, 42)),
    ("2025-10-03T08:15:42Z", _utc(2025, 10, 3, 8, 15, 42)),                       # JS toISOString, 3.10 refuses
    ("2025-10-03T08:15:42.123Z", _utc(2025, 10, 3, 8, 15, 42, micro=123000)),
    ("2025-10-03T08:15:42.12Z", _utc(2025, 10, 3, 8, 15, 42, micro=120000)),     # 2-digit fraction
    ("2025-10-03T08:15:42.123456789Z", _utc(2025, 10, 3, 8, 15, 42, micro=123000)),  # nine digits
    ("2025-10-03T08:15:42.9996Z", _utc(2025, 10, 3, 8, 15, 43)),                  # rounds into the next second
    ("2025-10-03T08:15:42.0005", _utc(2025, 10, 3, 8, 15, 42, micro=1000)),       # half a ms rounds up
    ("2025-10-03T08:15:42+00:00", _utc(2025, 10, 3, 8, 15, 42)),
    ("2025-10-03T08:15:42+0000", _utc(2025, 10, 3, 8, 15, 42)),                   # offset without colon
    ("2025-10-03T10:15:42+02", _utc(2025, 10, 3, 10, 15, 42, offset_minutes=120)),  # hours-only offset
    ("2025-10-03T03:45:42-04:30", _utc(2025, 10, 3, 3, 45, 42, offset_minutes=-270)),
    ("2025-10-03 08:15", _utc(2025, 10, 3, 8, 15)),                               # no seconds
    ("2025-10-03", _utc(2025, 10, 3)),                                            # a date
    ("2024-02-29t23:59:59z", _utc(2024, 2, 29, 23, 59, 59)),                      # lower case
    ("  2025-10-03 08:15:42  ", _utc(2025, 10, 3, 8, 15, 42)),                    # padding
    ("1969-12-31 23:59:59.5", _utc(1969, 12, 31, 23, 59, 59, micro=500000)),      # before 1970
    ("20251003T081542Z", _utc(2025, 10, 3, 8, 15, 42)),                           # ISO basic format
    ("20251003T081542.25+0200", _utc(2025, 10, 3, 8, 15, 42, micro=250000, offset_minutes=120)),
    ("2025-10-03T08", _utc(2025, 10, 3, 8)),                                      # hours only
    ("2025-10-03T08:15:42.5+05:30", _utc(2025, 10, 3, 8, 15, 42, micro=500000, offset_minutes=330)),
]


@pytest.mark.parametrize("text, expected", TIMESTAMP_FORMS)
def test_one_parser_gives_one_answer_for_every_form(text, expected):
    assert t.to_epoch_ms(text, "created_at", "text") == expected


@pytest.mark.parametrize("text", ["2025-13-01", "2025-02-30 10:00", "2025-10-03 25:00", "2025-10-03T08:15:42+25:00",
                                  "03/10/2025", "2025-10-03 08:15:42 UTC", "2025-10-03T08:15:42.Z",
                                  "２０２５-10-03", "2025-10-03+05:00", "2025-1003", "2025-10-03T08:1542",
                                  "2025-10-03 23:59:60", "0000-01-01", "2025-10-03T08:15:42." + "1" * 5000])
def test_impossible_or_foreign_timestamps_are_refused_naming_the_column(text):
    with pytest.raises(RowRejected, match="column created_at"):
        t.to_epoch_ms(text, "created_at", "text")
