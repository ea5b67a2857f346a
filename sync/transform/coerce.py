"""Vectorised, locale-free parsing of raw Salesforce values into the mapping's types.

The same record can arrive as REST JSON (numbers as JSON numbers, booleans as ``true``) or as
Bulk CSV (everything a string, ``""`` for null). Both must map to *identical* typed values, or
the diff would see phantom changes. So every value first goes through one canonical text form
(:func:`as_text`) and is parsed from that text: a JSON ``125000.5`` and a CSV ``"125000.5"``
meet as the same string before they become ``Decimal("125000.5")``.

One value's text and parse are :mod:`sync.common.scalars` (plain Python: the mapping loader types a
mapping's values without pandas); this module applies the same rules to whole columns.

Everything here works on object-dtype ``pandas.Series`` and returns object-dtype Series holding
plain Python values (``str``, ``Decimal``, ``int``, ``bool``, ``date``, aware-UTC ``datetime``)
with ``None`` for null, never ``NaN``/``NaT``: those would break hashing and JSON downstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from sync.common.scalars import DATE as _DATE
from sync.common.scalars import DATETIME as _DATETIME
from sync.common.scalars import NAIVE_DATETIME as _NAIVE_DATETIME
from sync.common.scalars import NUMBER as _NUMBER
from sync.common.scalars import TRUE as _TRUE
from sync.common.scalars import TYPES, normalize_decimal, text_of, to_decimal

__all__ = ["TYPES", "Parsed", "as_text", "normalize_decimal", "nullify", "objects", "parse"]


@dataclass(frozen=True)
class Parsed:
    """Typed values (None where null or bad) and, where bad, a short problem text."""

    values: pd.Series
    problems: pd.Series

    @property
    def bad(self) -> pd.Series:
        return self.problems.notna()


def objects(values, index=None) -> pd.Series:
    """An object Series with None (not NaN) for missing values."""
    s = pd.Series(values, index=index, dtype=object)
    return s.where(s.notna(), None)


def nullify(s: pd.Series) -> pd.Series:
    """NaN, None and ``""`` (Bulk CSV's null) all become None."""
    values = np.array(s, dtype=object)
    values[pd.isna(values) | (values == "")] = None
    return pd.Series(values, index=s.index, dtype=object)


def as_text(s: pd.Series) -> pd.Series:
    """Canonical text of each value: the meeting point of JSON and CSV forms.

    Strings stay as they are; booleans become ``true``/``false``; numbers their plain decimal
    notation without float artefacts (``0.1 + 0.2`` stays what JSON said, ``1e-07`` becomes
    ``0.0000001``, ``100.0`` becomes ``100``); dates ISO; datetimes ISO in UTC.
    """
    values = np.array(s, dtype=object)
    present = pd.notna(values)
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        values[present] = _TEXT_OF(values[present])
    values[~present] = None
    return pd.Series(values, index=s.index, dtype=object)


_TEXT_OF = np.frompyfunc(text_of, 1, 1)
_DECIMAL = np.frompyfunc(to_decimal, 1, 1)


def parse(s: pd.Series, type_: str, tz: str | None = None) -> Parsed:
    """Parse a Series of raw values into ``type_``; nulls stay None and are never a problem."""
    s = nullify(s)
    present = s.notna().to_numpy(dtype=bool)
    values = _nones(len(s))
    problems = _nones(len(s))
    if present.any():
        text = as_text(s[present])
        got, bad = _PARSERS[type_](text, tz)
        values[present] = got
        problems[present] = bad
    return Parsed(
        pd.Series(values, index=s.index, dtype=object),
        pd.Series(problems, index=s.index, dtype=object),
    )


# The parsers below take non-null canonical text and return two numpy object arrays of the
# same length: typed values (None where bad) and problem texts (None where fine). numpy object
# arrays, unlike Series, keep None as None through masked assignment.


def _nones(n: int) -> np.ndarray:
    return np.full(n, None, dtype=object)


def _mask(text: pd.Series, pattern: str) -> np.ndarray:
    return text.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)


def _parse_string(text: pd.Series, tz: str | None) -> tuple[np.ndarray, np.ndarray]:
    return np.array(text, dtype=object), _nones(len(text))


def _parse_decimal(text: pd.Series, tz: str | None) -> tuple[np.ndarray, np.ndarray]:
    stripped = text.str.strip()
    ok = _mask(stripped, _NUMBER)
    values = _nones(len(text))
    if ok.any():
        values[ok] = _DECIMAL(np.array(stripped[ok], dtype=object))
    problems = _nones(len(text))
    problems[pd.isna(values)] = "is not a decimal number"
    return values, problems


def _parse_integer(text: pd.Series, tz: str | None) -> tuple[np.ndarray, np.ndarray]:
    numbers, problems = _parse_decimal(text, tz)
    values = _WHOLE(numbers)
    problems[pd.isna(values)] = "is not a whole number"
    return values, problems


def _whole(number: Decimal | None) -> int | None:
    if number is None or number != number.to_integral_value():
        return None
    return int(number)


_WHOLE = np.frompyfunc(_whole, 1, 1)


def _parse_boolean(text: pd.Series, tz: str | None) -> tuple[np.ndarray, np.ndarray]:
    values = np.array(text.str.strip().str.lower().map(_TRUE), dtype=object)
    values[pd.isna(values)] = None
    problems = _nones(len(text))
    problems[pd.isna(values)] = "is not a boolean (true or false)"
    return values, problems


def _parse_date(text: pd.Series, tz: str | None) -> tuple[np.ndarray, np.ndarray]:
    # Fast path first: a vectorised strptime of every value; only the rest meet the regexes.
    days = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    values = _without_nat(days.dt.date)
    problems = np.full(len(text), "is not a date (YYYY-MM-DD)", dtype=object)
    rest = pd.isna(values)
    if rest.any():
        values[rest], problems[rest] = _parse_other_dates(text[rest].str.strip(), tz)
    problems[pd.notna(values)] = None
    return values, problems


def _parse_other_dates(stripped: pd.Series, tz: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Dates with blanks around them, and dates and times (which need ``tz``)."""
    values = _nones(len(stripped))
    problems = np.full(len(stripped), "is not a date (YYYY-MM-DD)", dtype=object)
    is_date = _mask(stripped, _DATE)
    if is_date.any():
        days = pd.to_datetime(stripped[is_date], format="%Y-%m-%d", errors="coerce")
        values[is_date] = _without_nat(days.dt.date)
    is_datetime = _mask(stripped, _DATETIME)
    if is_datetime.any() and tz is None:
        problems[is_datetime] = (
            "is a date and time: set `tz` to say in which time zone its day is taken"
        )
    elif is_datetime.any():
        moments = pd.to_datetime(stripped[is_datetime], format="ISO8601", utc=True, errors="coerce")
        try:
            values[is_datetime] = _without_nat(moments.dt.tz_convert(tz).dt.date)
        except (ValueError, OverflowError):  # a moment whose day in `tz` is past 9999-12-31
            days = [_day_in(m, tz) for m in moments]
            values[is_datetime] = days
            problems[is_datetime] = [
                None if d else "is past the last date there is (9999-12-31) in `tz`" for d in days
            ]
    return values, problems


def _day_in(moment, tz: str):
    """``moment``'s day in ``tz``, or None when it has none (NaT, or a day after year 9999)."""
    if pd.isna(moment):
        return None
    try:
        return moment.tz_convert(tz).date()
    except (ValueError, OverflowError, NotImplementedError):  # pandas' words for "no such day"
        return None


def _parse_datetime(text: pd.Series, tz: str | None) -> tuple[np.ndarray, np.ndarray]:
    stripped = text.str.strip()
    values = _nones(len(text))
    problems = np.full(len(text), "is not a date and time (ISO 8601 with offset)", dtype=object)
    problems[_mask(stripped, _NAIVE_DATETIME)] = "has no UTC offset (e.g. Z or +0000)"
    is_datetime = _mask(stripped, _DATETIME)
    if is_datetime.any():
        moments = pd.to_datetime(stripped[is_datetime], format="ISO8601", utc=True, errors="coerce")
        values[is_datetime] = _without_nat(moments.dt.to_pydatetime())
    problems[pd.notna(values)] = None
    return values, problems


def _without_nat(values: pd.Series) -> np.ndarray:
    out = np.array(values, dtype=object)
    out[pd.isna(out)] = None
    return out


_PARSERS = {
    "string": _parse_string,
    "decimal": _parse_decimal,
    "integer": _parse_integer,
    "date": _parse_date,
    "datetime": _parse_datetime,
    "boolean": _parse_boolean,
}
