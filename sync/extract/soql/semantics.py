"""``evaluate``: a condition applied to a REST-shaped record with SOQL's semantics."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from sync.extract.soql.lexer import parse_sf_datetime
from sync.extract.soql.nodes import (
    And,
    Comparison,
    Condition,
    InList,
    Not,
    Or,
    SemiJoin,
    SoqlEvaluationError,
    Value,
)
from sync.extract.soql.render import quote


def evaluate(condition: Condition, record: Mapping[str, Any]) -> bool:
    """Apply a condition to a REST-shaped record with SOQL's semantics.

    Parent fields are nested (``{"Account": {"Name": …}}`` or ``"Account": None`` for an empty
    lookup, which makes every ``Account.*`` null). Field names match ignoring case.

    Raises:
        SoqlEvaluationError: a referenced field is absent from the record, or its value cannot
            be compared with the literal (e.g. a number against a date).
    """
    if isinstance(condition, And):
        return all(evaluate(item, record) for item in condition.items)
    if isinstance(condition, Or):
        return any(evaluate(item, record) for item in condition.items)
    if isinstance(condition, Not):
        return not evaluate(condition.item, record)
    if isinstance(condition, Comparison):
        return _compare(
            _resolve(record, condition.field), condition.op, condition.value, condition.field
        )
    if isinstance(condition, InList):
        actual = _resolve(record, condition.field)
        hit = any(_compare(actual, "=", v, condition.field) for v in condition.values)
        return not hit if condition.negated else hit
    if isinstance(condition, SemiJoin):
        raise SoqlEvaluationError(
            f"{condition.field} IN (SELECT …) needs the org: a semi-join cannot be "
            "evaluated on one record"
        )
    raise TypeError(f"not a SOQL condition: {condition!r}")


def _resolve(record: Mapping[str, Any] | None, path: str) -> Any:
    current: Any = record
    for part in path.split("."):
        if current is None:
            return None
        if not isinstance(current, Mapping):
            raise SoqlEvaluationError(f"{path}: {part!r} is not a relationship in this record")
        current = _get_ignoring_case(current, part, path)
    return current


def _get_ignoring_case(data: Mapping[str, Any], key: str, path: str) -> Any:
    if key in data:
        return data[key]
    lowered = key.lower()
    for name, value in data.items():
        if name.lower() == lowered:
            return value
    raise SoqlEvaluationError(f"record has no field {path!r}: select it in the query")


def _compare(actual: Any, op: str, literal: Value, path: str) -> bool:
    if literal is None:
        return {"=": actual is None, "!=": actual is not None}.get(op, False)
    if actual is None:
        return op == "!="  # SOQL: a null field is "not equal" to any value
    if op == "LIKE":
        if not isinstance(actual, str):
            raise SoqlEvaluationError(f"{path}: LIKE needs a text field, got {actual!r}")
        return like_regex(literal).fullmatch(actual) is not None
    left, right = _coerce(actual, literal, path)
    if isinstance(left, bool) and op not in ("=", "!="):
        raise SoqlEvaluationError(f"{path}: booleans only compare with = and !=")
    return _OPS[op](left, right)


_OPS = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _coerce(actual: Any, literal: Value, path: str) -> tuple[Any, Any]:
    """Bring the record value to the literal's type (REST gives dates and datetimes as text)."""
    try:
        if isinstance(literal, bool):
            if not isinstance(actual, bool):
                raise TypeError
            return actual, literal
        if isinstance(literal, int | Decimal):
            if isinstance(actual, bool):
                raise TypeError
            return Decimal(str(actual)), Decimal(literal)
        if isinstance(literal, datetime):
            when = actual if isinstance(actual, datetime) else parse_sf_datetime(actual)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return when, literal
        if isinstance(literal, date):
            if isinstance(actual, datetime):
                raise TypeError
            return (actual if isinstance(actual, date) else date.fromisoformat(actual)), literal
        if isinstance(actual, str):
            return actual.casefold(), literal.casefold()
        raise TypeError
    except (TypeError, ValueError, InvalidOperation):
        raise SoqlEvaluationError(
            f"{path}: cannot compare value {actual!r} with literal {quote(literal)}"
        ) from None


@lru_cache(maxsize=256)
def like_regex(pattern: str) -> re.Pattern[str]:
    """Case-blind SOQL LIKE: ``%`` any run, ``_`` one character, ``\\%`` ``\\_`` ``\\\\`` literal.

    The pattern is in the grammar the parser gives a LIKE operand (and SQL's ``ESCAPE '\\'``
    reads): a backslash makes the next character literal.
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append({"%": ".*", "_": "."}.get(ch) or re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)
