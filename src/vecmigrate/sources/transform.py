"""Helpers shared by the per-variant mappings in `sources/`: timestamps, JSON columns,
verdicts, metadata merging. Each helper raises `RowRejected` with a reason naming the column."""

from __future__ import annotations

import calendar
import json
import math
import re
from datetime import datetime
from typing import Any, Iterable

from ..errors import RowRejected
from ..models import jsonable

SECONDS_THRESHOLD = 100_000_000_000  # below: seconds (until year 5138); at or above: milliseconds


def required_text(values: dict[str, Any], column: str) -> str:
    value = values.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RowRejected(f"missing required field {column}")
    if isinstance(value, bytes):
        raise RowRejected(f"column {column} holds a blob, expected text")
    return str(value)


def optional_text(values: dict[str, Any], column: str) -> str | None:
    value = values.get(column)
    if value is None:
        return None
    if isinstance(value, bytes):
        raise RowRejected(f"column {column} holds a blob, expected text")
    return str(value)


def optional_float(values: dict[str, Any], column: str) -> float | None:
    value = values.get(column)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RowRejected(f"column {column} is not a number: {str(value)[:40]!r}") from None
    if not math.isfinite(number):
        raise RowRejected(f"column {column} is not finite: {value!r}")
    return number


def optional_int(values: dict[str, Any], column: str) -> int | None:
    number = optional_float(values, column)
    if number is None:
        return None
    if number != int(number):
        raise RowRejected(f"column {column} is not an integer: {values.get(column)!r}")
    return int(number)


def to_epoch_ms(value: Any, column: str, unit: str = "auto") -> int | None:
    """DATETIME text (read as UTC), unix seconds or milliseconds -> epoch milliseconds.

    `unit` is what the variant's schema declares: "s", "ms", "text" or "auto" (numbers below
    1e11 are seconds, above are milliseconds).
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        stripped = value.strip()
        try:
            value = float(stripped)
        except ValueError:
            return _parse_datetime(stripped, column)
    if isinstance(value, bytes):
        raise RowRejected(f"column {column} holds a blob, expected a timestamp")
    number = float(value)
    if not math.isfinite(number):
        raise RowRejected(f"column {column} is not a valid timestamp: {value!r}")
    if unit == "s" or (unit in ("auto", "text") and abs(number) < SECONDS_THRESHOLD):
        return int(round(number * 1000))
    return int(round(number))


# ISO 8601 / SQLite DATETIME text: a date (YYYY-MM-DD or YYYYMMDD), optionally a time (HH, HH:MM,
# HH:MM:SS or the same without colons, a fraction of up to 30 digits) and then Z or an offset
# written +HH, +HHMM or +HH:MM. ASCII digits only. Parsed here rather than by
# datetime.fromisoformat, whose answer depends on the Python version (3.10 refuses "Z", "+0000"
# and fractions that are not 3 or 6 digits long).
_DATETIME = re.compile(r"""(?P<y>\d{4})(?P<dash>-?)(?P<mo>\d{2})(?P=dash)(?P<d>\d{2})
    (?:[Tt ](?P<h>\d{2})(?:(?P<colon>:?)(?P<mi>\d{2})(?:(?P=colon)(?P<s>\d{2})(?:[.,](?P<f>\d{1,30}))?)?)?
       \s*(?:(?P<z>[Zz])|(?P<sign>[+-])(?P<oh>\d{2})(?::?(?P<om>\d{2}))?)?)?""", re.ASCII | re.VERBOSE)


def _parse_datetime(text: str, column: str) -> int:
    """Epoch milliseconds of DATETIME text; no offset means UTC. A fraction is rounded to the
    nearest millisecond (half up)."""
    match = _DATETIME.fullmatch(text)
    if match is None:
        raise RowRejected(f"column {column} is not a valid timestamp: {text[:40]!r}")
    g = match.groupdict()
    try:
        moment = datetime(int(g["y"]), int(g["mo"]), int(g["d"]), int(g["h"] or 0), int(g["mi"] or 0),
                          int(g["s"] or 0))
    except ValueError:
        raise RowRejected(f"column {column} is not a valid timestamp: {text[:40]!r}") from None
    offset = 0
    if g["sign"]:
        hours, minutes = int(g["oh"]), int(g["om"] or 0)
        if hours > 23 or minutes > 59:
            raise RowRejected(f"column {column} has an impossible UTC offset: {text[:40]!r}")
        offset = (1 if g["sign"] == "+" else -1) * (hours * 3600 + minutes * 60)
    fraction = g["f"] or "0"
    scale = 10 ** len(fraction)
    millis = (int(fraction) * 2000 + scale) // (2 * scale)   # exact, whatever the number of digits
    return (calendar.timegm(moment.timetuple()) - offset) * 1000 + millis


def parse_json(values: dict[str, Any], column: str, default: Any = None) -> Any:
    """The parsed JSON of a text column; NULL gives `default`; malformed JSON rejects the row."""
    raw = values.get(column)
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return default
    if isinstance(raw, bytes):
        raise RowRejected(f"column {column} holds a blob, expected JSON text")
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RowRejected(f"malformed JSON in column {column} at char {exc.pos}: {exc.msg}") from None
    except (RecursionError, ValueError) as exc:  # nested too deep, or a number too long to read
        raise RowRejected(f"unreadable JSON in column {column} ({type(exc).__name__})") from None


def parse_metadata(values: dict[str, Any], column: str = "metadata") -> dict[str, Any]:
    """The source's metadata column as a dict (a non-object JSON value is kept under `sourceMetadata`)."""
    parsed = parse_json(values, column, default={})
    return parsed if isinstance(parsed, dict) else {"sourceMetadata": parsed}


def merge_metadata(source: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Source metadata plus vecmigrate's keys. Where a key clashes with a different value,
    the whole original is kept under `sourceMetadata` so nothing is lost."""
    merged = dict(source)
    clash = any(k in source and source[k] != v for k, v in extra.items())
    merged.update(extra)
    if clash:
        merged["sourceMetadata"] = source
    return merged


def leftover_columns(values: dict[str, Any], consumed: Iterable[str]) -> dict[str, Any]:
    """Columns the mapping did not use, kept in metadata so every source value stays recoverable."""
    used = set(consumed)
    return {k: jsonable(v) for k, v in values.items() if k not in used}


def flakiness_for(success_rate: float | None) -> float | None:
    if success_rate is None:
        return None
    return 1.0 - success_rate if success_rate < 0.8 else 0.0


def verdict_for(success_rate: float | None) -> str | None:
    if success_rate is None:
        return None
    if success_rate >= 0.9:
        return "success"
    if success_rate >= 0.7:
        return "flaky"
    return "failure"


def first_text(mapping: dict[str, Any], keys: Iterable[str]) -> str | None:
    for key in keys:
        value = mapping.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def drop_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}
