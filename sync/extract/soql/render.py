"""Back to text: escaped literals (``quote``), ``to_soql``, and the ``field(...)`` builder."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal

from sync.extract.soql.nodes import (
    And,
    Comparison,
    Condition,
    InList,
    Not,
    Or,
    Query,
    SemiJoin,
    Value,
)

_PATH_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*\Z")


def quote(value: Value) -> str:
    """Render one value as a SOQL literal, escaped.

    Strings are single-quoted, with ``\\`` ``'`` and every control character escaped (``\\n``
    ``\\r`` ``\\t`` ``\\b`` ``\\f``, the others as ``\\uXXXX``), never as a LIKE pattern (see
    :meth:`FieldRef.like`: a backslash here is always a literal one); datetimes must be
    timezone-aware and are written in UTC with ``Z`` (milliseconds kept, finer digits truncated);
    dates as ``YYYY-MM-DD``; booleans, null and numbers bare.

    Raises:
        ValueError: a naive datetime (its instant is ambiguous) or a non-finite number.
        TypeError: a value SOQL has no literal for.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        dec = Decimal(repr(value)) if isinstance(value, float) else value
        if not dec.is_finite():
            raise ValueError(f"SOQL has no literal for {value!r}")
        return format(dec, "f")
    if isinstance(value, datetime):
        return _quote_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return "'" + _escape_string(value) + "'"
    raise TypeError(f"SOQL has no literal for {type(value).__name__}: {value!r}")


# SOQL's named escapes, then its \uXXXX for the other control characters: SOQL documents no
# meaning for a raw one inside a literal, and an escaped one cannot hide in a logged query.
_NAMED = {"'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_PATTERN_TABLE = {cp: _NAMED.get(chr(cp), f"\\u{cp:04x}") for cp in [*range(0x20), 0x7F, ord("'")]}
_VALUE_TABLE = {**_PATTERN_TABLE, ord("\\"): "\\\\"}
_LIKE_PATTERN_RE = re.compile(r"(?:[^\\]|\\[\\%_])*", re.DOTALL)


def _escape_string(value: str) -> str:
    """A plain literal: every backslash is a literal one (``\\%`` is a LIKE-only escape)."""
    return value.translate(_VALUE_TABLE)


def _quote_like(pattern: Value) -> str:
    """A LIKE pattern, already in SOQL's pattern grammar: its ``\\%`` ``\\_`` ``\\\\`` are kept.

    Raises:
        ValueError: a backslash that escapes anything else (SOQL refuses it, and guessing whether
            it meant a literal backslash could turn a literal into a wildcard).
    """
    if not isinstance(pattern, str):
        raise TypeError(f"a LIKE pattern is text, not {pattern!r}")
    if not _LIKE_PATTERN_RE.fullmatch(pattern):
        raise ValueError(
            f"LIKE pattern {pattern!r}: a backslash must escape %, _ or another backslash"
        )
    return "'" + pattern.translate(_PATTERN_TABLE) + "'"


def _quote_datetime(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"naive datetime {value.isoformat()} has no instant: make it timezone-aware"
        )
    utc = value.astimezone(UTC)
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    millis = utc.microsecond // 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def to_soql(node: Condition | Query) -> str:
    """Render a condition (or a whole query) as SOQL text that :func:`parse_condition` reads."""
    if isinstance(node, Query):
        return _render_query(node)
    if isinstance(node, Comparison):
        literal = _quote_like(node.value) if node.op == "LIKE" else quote(node.value)
        return f"{node.field} {node.op} {literal}"
    if isinstance(node, InList):
        keyword = "NOT IN" if node.negated else "IN"
        return f"{node.field} {keyword} ({', '.join(quote(v) for v in node.values)})"
    if isinstance(node, SemiJoin):
        return f"{node.field} {'NOT IN' if node.negated else 'IN'} ({_render_query(node.query)})"
    if isinstance(node, And | Or):
        joiner = " AND " if isinstance(node, And) else " OR "
        return joiner.join(_wrapped(item) for item in node.items)
    if isinstance(node, Not):
        return f"NOT ({to_soql(node.item)})"
    raise TypeError(f"not a SOQL condition: {node!r}")


def _wrapped(node: Condition) -> str:
    text = to_soql(node)
    return f"({text})" if isinstance(node, And | Or) else text


def _render_query(q: Query) -> str:
    selected = [*q.fields, *(f"({_render_query(child)})" for child in q.children)]
    parts = ["SELECT", "COUNT()" if q.count else ", ".join(selected), "FROM", q.sobject]
    if q.where is not None:
        parts += ["WHERE", to_soql(q.where)]
    if q.order_by:
        keys = []
        for item in q.order_by:
            key = item.field + (" DESC" if item.descending else " ASC")
            keys.append(key + (" NULLS LAST" if item.nulls_last else " NULLS FIRST"))
        parts += ["ORDER BY", ", ".join(keys)]
    if q.limit is not None:
        parts += ["LIMIT", str(q.limit)]
    if q.offset is not None:
        parts += ["OFFSET", str(q.offset)]
    return " ".join(parts)


def _check_path(path: str) -> str:
    if not isinstance(path, str) or not _PATH_RE.match(path):
        raise ValueError(f"not a SOQL field path: {path!r}")
    return path


class FieldRef:
    """A field path to build conditions from: ``field("Amount").gt(0)``.

    Methods rather than overloaded ``==`` so a FieldRef never pretends to be a boolean.
    """

    def __init__(self, path: str):
        self.path = _check_path(path)

    def eq(self, value: Value) -> Comparison:
        return Comparison(self.path, "=", value)

    def ne(self, value: Value) -> Comparison:
        return Comparison(self.path, "!=", value)

    def lt(self, value: Value) -> Comparison:
        return Comparison(self.path, "<", value)

    def le(self, value: Value) -> Comparison:
        return Comparison(self.path, "<=", value)

    def gt(self, value: Value) -> Comparison:
        return Comparison(self.path, ">", value)

    def ge(self, value: Value) -> Comparison:
        return Comparison(self.path, ">=", value)

    def like(self, pattern: str) -> Comparison:
        """A SOQL LIKE ``pattern``: ``%`` ``_`` wildcards; ``\\%`` ``\\_`` ``\\\\`` literals."""
        _quote_like(pattern)  # refuse a malformed pattern here, where the caller is
        return Comparison(self.path, "LIKE", pattern)

    def in_(self, values: Iterable[Value]) -> InList:
        return _in_list(self.path, values, negated=False)

    def not_in(self, values: Iterable[Value]) -> InList:
        return _in_list(self.path, values, negated=True)

    def is_null(self) -> Comparison:
        return Comparison(self.path, "=", None)

    def is_not_null(self) -> Comparison:
        return Comparison(self.path, "!=", None)


def _in_list(path: str, values: Iterable[Value], negated: bool) -> InList:
    items = tuple(values)
    if not items:
        raise ValueError(f"IN list for {path} is empty: SOQL has no empty list")
    return InList(path, items, negated)


def field(path: str) -> FieldRef:
    """Start a condition on ``path`` (validated as a field path, never pasted raw)."""
    return FieldRef(path)
