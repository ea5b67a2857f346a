"""Values in and out: JSON/Python → SQLite storage (validated like an org would) and back to JSON.

Storage formats are chosen so SQLite compares them like Salesforce does: datetimes as
``YYYY-MM-DDTHH:MM:SS.fff+0000`` in UTC (which is also the REST wire format, so paging needs no
conversion), dates as ``YYYY-MM-DD``, checkboxes as 0/1, numbers as REAL, text with NOCASE.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sync.emulator import ids
from sync.emulator.apierror import RecordFailure
from sync.emulator.schema import ID_TYPES, NUMBER_TYPES, TEXT_TYPES, FieldDef
from sync.extract.soql import parse_sf_datetime


def format_datetime(when: datetime) -> str:
    """The REST wire form: milliseconds and ``+0000``, always UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    utc = when.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond // 1000:03d}+0000"
    )


def format_ms(epoch_ms: int) -> str:
    return format_datetime(datetime.fromtimestamp(epoch_ms / 1000, UTC))


def to_storage(definition: FieldDef, value: Any) -> Any:
    """Validate one incoming value and return its stored form.

    Raises:
        RecordFailure: with the status code a real org answers for that mistake.
    """
    if value is None:
        if definition.type == "boolean":
            return 0  # a checkbox cannot be null: Salesforce stores false
        if not definition.nillable:
            raise RecordFailure(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{definition.name}]",
                [definition.name],
            )
        return None
    kind = definition.type
    if kind in TEXT_TYPES:
        return _text(definition, value)
    if kind in ID_TYPES:
        return _reference(definition, value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _wrong_type(definition, value)
        return int(value)
    if kind in NUMBER_TYPES:
        return _number(definition, value)
    if kind == "date":
        return _date(definition, value)
    return _datetime(definition, value)


def _wrong_type(definition: FieldDef, value: Any) -> RecordFailure:
    return RecordFailure(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{definition.label}: value not of required type: {value}",
        [definition.name],
    )


def _text(definition: FieldDef, value: Any) -> str:
    if not isinstance(value, str):
        raise _wrong_type(definition, value)
    if definition.length and len(value) > definition.length:
        raise RecordFailure(
            "STRING_TOO_LONG",
            f"{definition.label}: data value too large: {value[:40]} "
            f"(max length={definition.length})",
            [definition.name],
        )
    if definition.restricted and value not in definition.picklist:
        raise RecordFailure(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{definition.label}: bad value for restricted picklist field: {value}",
            [definition.name],
        )
    return value


def _reference(definition: FieldDef, value: Any) -> str:
    normal = ids.normalize(value)
    if normal is None:
        raise RecordFailure(
            "MALFORMED_ID",
            f"{definition.label}: id value of incorrect type: {value}",
            [definition.name],
        )
    return normal


def _number(definition: FieldDef, value: Any) -> float | int:
    if isinstance(value, bool):
        raise _wrong_type(definition, value)
    try:
        number = Decimal(str(value)) if isinstance(value, int | float | Decimal | str) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise _wrong_type(definition, value)
    if definition.precision and abs(number) >= Decimal(10) ** (
        definition.precision - definition.scale
    ):
        raise RecordFailure(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{definition.label}: value outside of valid range on numeric field: {value}",
            [definition.name],
        )
    if definition.type == "int":
        return int(number)
    return float(round(number, definition.scale)) if definition.precision else float(number)


def _date(definition: FieldDef, value: Any) -> str:
    if isinstance(value, datetime):
        raise _wrong_type(definition, value)
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise _wrong_type(definition, value) from None


def _datetime(definition: FieldDef, value: Any) -> str:
    if isinstance(value, datetime):
        return format_datetime(value)
    try:
        return format_datetime(parse_sf_datetime(value))
    except (TypeError, ValueError, AttributeError):
        raise _wrong_type(definition, value) from None


def to_json(definition: FieldDef, stored: Any) -> Any:
    """A stored value as REST JSON carries it."""
    if stored is None:
        return None
    if definition.type == "boolean":
        return bool(stored)
    if definition.type == "int":
        return int(stored)
    return stored
