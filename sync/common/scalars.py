"""One value at a time: the canonical text of a raw value and its parse into a mapping type, in
plain Python.

The mapping loader types the values a mapping writes (``map`` targets, ``default``) and keys its
value maps by canonical text; it must not need pandas for that (``status``, ``forecast`` and
``check --offline`` load a mapping and nothing else). :mod:`sync.transform.coerce` parses whole
columns by the same rules, and uses :func:`text_of` and :func:`normalize_decimal` from here;
tests/unit/transform/test_transform_values.py holds the two to the same answers, value by value.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

TYPES = ("string", "decimal", "integer", "date", "datetime", "boolean")

NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,4})?"
DATE = r"\d{4}-\d{2}-\d{2}"
CLOCK = r"[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
DATETIME = DATE + CLOCK + r"(?:Z|[+-]\d{2}:?\d{2})"
NAIVE_DATETIME = DATE + CLOCK
TRUE = {"true": True, "1": True, "false": False, "0": False}
_MOMENT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(?:(Z)|([+-])(\d{2}):?(\d{2}))"
)

NOT_DECIMAL = "is not a decimal number"
NOT_WHOLE = "is not a whole number"
NOT_BOOLEAN = "is not a boolean (true or false)"
NOT_DATE = "is not a date (YYYY-MM-DD)"
NEEDS_TZ = "is a date and time: set `tz` to say in which time zone its day is taken"
PAST_9999 = "is past the last date there is (9999-12-31) in `tz`"
NOT_DATETIME = "is not a date and time (ISO 8601 with offset)"
NO_OFFSET = "has no UTC offset (e.g. Z or +0000)"


def normalize_decimal(value: Decimal) -> Decimal:
    """One representation per number: ``125000.50`` and ``1.250005E+5`` both give ``125000.5``.

    ``normalize()`` strips trailing zeros but writes ``100`` as ``1E+2``; adding zero brings the
    exponent back to 0 and also turns ``-0`` into ``0``.
    """
    return value.normalize() + 0


def text_of(value: Any) -> str:
    """Canonical text of one non-null value: the meeting point of JSON and CSV forms
    (``sync.transform.coerce``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if text.endswith(".0"):  # the common case, without a Decimal round trip
            return text[:-2] if text != "-0.0" else "0"
        if "e" in text and math.isfinite(value):
            return format(normalize_decimal(Decimal(text)), "f")
        return text
    if isinstance(value, Decimal):
        return format(normalize_decimal(value), "f") if value.is_finite() else str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat()
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def to_decimal(text: str) -> Decimal | None:
    try:
        result = normalize_decimal(Decimal(text))
    except (InvalidOperation, ArithmeticError):
        return None
    return result if result.is_finite() else None


def parse_scalar(value: Any, type_: str, tz: str | None = None) -> tuple[Any, str | None]:
    """Parse one value as a column of it would be: ``(typed, problem or None)``; null is
    ``(None, None)``."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None, None
    return _SCALAR[type_](text_of(value), tz)


def _string(text: str, tz: str | None) -> tuple[Any, str | None]:
    return text, None


def _decimal(text: str, tz: str | None) -> tuple[Any, str | None]:
    stripped = text.strip()
    number = to_decimal(stripped) if re.fullmatch(NUMBER, stripped) else None
    return (number, None) if number is not None else (None, NOT_DECIMAL)


def _integer(text: str, tz: str | None) -> tuple[Any, str | None]:
    number, _ = _decimal(text, tz)
    if number is None or number != number.to_integral_value():
        return None, NOT_WHOLE
    return int(number), None


def _boolean(text: str, tz: str | None) -> tuple[Any, str | None]:
    found = TRUE.get(text.strip().lower())
    return (found, None) if found is not None else (None, NOT_BOOLEAN)


def _date(text: str, tz: str | None) -> tuple[Any, str | None]:
    stripped = text.strip()
    if re.fullmatch(DATE, stripped):
        try:
            return date.fromisoformat(stripped), None
        except ValueError:
            return None, NOT_DATE
    if not re.fullmatch(DATETIME, stripped):
        return None, NOT_DATE
    if tz is None:
        return None, NEEDS_TZ
    moment = moment_of(stripped)
    if moment is None:
        return None, NOT_DATE
    try:
        return moment.astimezone(ZoneInfo(tz)).date(), None
    except OverflowError:
        return None, PAST_9999


def _datetime(text: str, tz: str | None) -> tuple[Any, str | None]:
    stripped = text.strip()
    if re.fullmatch(DATETIME, stripped):
        moment = moment_of(stripped)
        return (moment, None) if moment is not None else (None, NOT_DATETIME)
    return None, NO_OFFSET if re.fullmatch(NAIVE_DATETIME, stripped) else NOT_DATETIME


def moment_of(text: str) -> datetime | None:
    """An ISO 8601 moment with an offset (``DATETIME``) as aware UTC, to the microsecond (a finer
    fraction is cut, as pandas' ``to_pydatetime`` does); None when it names no such moment."""
    matched = _MOMENT.fullmatch(text)
    if matched is None:
        return None
    y, mo, d, h, mi, s, fraction, zulu, sign, oh, om = matched.groups()
    try:
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        local = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), micro)
        offset = (
            timedelta(0)
            if zulu
            else (1 if sign == "+" else -1) * timedelta(hours=int(oh), minutes=int(om))
        )
        return (local - offset).replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


_SCALAR = {
    "string": _string,
    "decimal": _decimal,
    "integer": _integer,
    "date": _date,
    "datetime": _datetime,
    "boolean": _boolean,
}
