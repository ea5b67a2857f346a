"""SOQL: one lexer, parser and AST shared by the pipeline (criteria, extract) and the emulator.

The subset is what psa-sync needs and no more: field lists with parent paths (``Account.Name``),
``COUNT()``, WHERE with AND/OR/NOT and parentheses, ``= != <> < <= > >= IN NOT IN LIKE``,
null/true/false, numbers, quoted strings with backslash escapes, date and datetime literals,
ORDER BY several fields, LIMIT and OFFSET. Anything else (``;``, comments, subqueries, bind
variables, date functions) is refused with :class:`SoqlSyntaxError`, so a criteria string that
would surprise Salesforce surprises us first.

Like Salesforce, AND and OR may not be mixed at one level without parentheses.

Conditions are frozen dataclasses; build them with :func:`field`, :func:`and_`, :func:`or_`,
:func:`not_` and render them with :func:`to_soql`, which escapes every value via :func:`quote`,
so no user value is ever pasted into a query string::

    >>> cond = and_(field("SystemModstamp").ge(since), parse_condition("IsWon = true"))
    >>> to_soql(cond)
    'SystemModstamp >= 2024-05-01T00:00:00Z AND IsWon = true'

:func:`evaluate` applies a condition to a REST-shaped record with SOQL's semantics (text
compares ignoring case, comparisons with null are false, ``!=`` and ``NOT IN`` match null).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

__all__ = [
    "SoqlSyntaxError", "SoqlEvaluationError", "Value", "Condition", "Comparison", "InList", "And",
    "Or", "Not", "OrderItem", "Query", "parse_query", "parse_condition", "to_soql", "quote",
    "field", "FieldRef", "and_", "or_", "not_", "evaluate", "parse_sf_datetime", "COMPARISON_OPS",
]

Value = str | int | Decimal | bool | None | date | datetime
COMPARISON_OPS = ("=", "!=", "<", "<=", ">", ">=", "LIKE")
_PATH_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*\Z")


class SoqlSyntaxError(ValueError):
    """A SOQL text is not in the supported grammar; ``position`` is the 0-based character offset."""

    def __init__(self, message: str, position: int):
        self.message = message
        self.position = position
        super().__init__(f"{message} (at character {position + 1})")


class SoqlEvaluationError(ValueError):
    """A condition cannot be applied to a record: a field is missing or a value has the wrong type."""


# --------------------------------------------------------------------------------------- AST


class Condition:
    """Base of the condition nodes: ``&``, ``|`` and ``~`` compose them."""

    def fields(self) -> set[str]:  # pragma: no cover - every node overrides
        raise NotImplementedError

    def __and__(self, other: Condition) -> Condition:
        return and_(self, other)

    def __or__(self, other: Condition) -> Condition:
        return or_(self, other)

    def __invert__(self) -> Condition:
        return Not(self)


@dataclass(frozen=True)
class Comparison(Condition):
    """``field op value``; op is one of :data:`COMPARISON_OPS` (``<>`` is read as ``!=``)."""

    field: str
    op: str
    value: Value

    def fields(self) -> set[str]:
        return {self.field}


@dataclass(frozen=True)
class InList(Condition):
    """``field IN (values)`` or, when ``negated``, ``field NOT IN (values)``."""

    field: str
    values: tuple[Value, ...]
    negated: bool = False

    def fields(self) -> set[str]:
        return {self.field}


@dataclass(frozen=True)
class And(Condition):
    items: tuple[Condition, ...]

    def fields(self) -> set[str]:
        return set().union(*(item.fields() for item in self.items))


@dataclass(frozen=True)
class Or(Condition):
    items: tuple[Condition, ...]

    def fields(self) -> set[str]:
        return set().union(*(item.fields() for item in self.items))


@dataclass(frozen=True)
class Not(Condition):
    item: Condition

    def fields(self) -> set[str]:
        return self.item.fields()


@dataclass(frozen=True)
class OrderItem:
    """One ORDER BY key. SOQL sorts nulls first by default, whatever the direction."""

    field: str
    descending: bool = False
    nulls_last: bool = False


@dataclass(frozen=True)
class Query:
    """A parsed SELECT; ``count`` is true for ``SELECT COUNT()`` (then ``fields`` is empty)."""

    sobject: str
    fields: tuple[str, ...] = ()
    count: bool = False
    where: Condition | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int | None = None


# ------------------------------------------------------------------------------------- lexer

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2}))(?![\w:.+-])
  | (?P<baddatetime>\d{4}-\d{2}-\d{2}T[\w:.+-]*)
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\w:.-])
  | (?P<number>[+-]?(?:\d+(?:\.\d+)?|\.\d+))(?![\w.])
  | (?P<ident>[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*)
  | (?P<string>')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


@dataclass(frozen=True)
class _Token:
    kind: str  # ident number string date datetime op punct eof
    text: str
    pos: int
    value: Any = None

    def word(self) -> str | None:
        """The upper-cased text when this is a bare word (keywords are case-insensitive)."""
        return self.text.upper() if self.kind == "ident" else None


def _read_string(text: str, start: int) -> tuple[str, int]:
    """Read a quoted string starting after the opening quote; return (value, end index)."""
    out: list[str] = []
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "'":
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= len(text):
                break
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt in "%_":  # only meaningful inside LIKE: keep the escape for the matcher
                out.append("\\" + nxt)
            elif nxt == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", text[i + 2 : i + 6]):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 4
            else:
                raise SoqlSyntaxError(f"invalid escape sequence '\\{nxt}' in string", i)
            i += 2
            continue
        out.append(ch)
        i += 1
    raise SoqlSyntaxError("unterminated string literal", start - 1)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise SoqlSyntaxError(f"unexpected character {text[pos]!r}", pos)
        kind = m.lastgroup or ""
        if kind == "ws":
            pos = m.end()
            continue
        if kind == "string":
            value, end = _read_string(text, pos + 1)
            tokens.append(_Token("string", text[pos:end], pos, value))
            pos = end
            continue
        raw = m.group(kind)
        if kind == "baddatetime":
            raise SoqlSyntaxError(
                f"malformed datetime literal {raw!r}: use YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm|-hh:mm)", pos
            )
        tokens.append(_Token(kind, raw, pos, _literal_value(kind, raw, pos)))
        pos = m.end()
    tokens.append(_Token("eof", "", len(text)))
    return tokens


def _literal_value(kind: str, raw: str, pos: int) -> Any:
    try:
        if kind == "number":
            return int(raw) if re.fullmatch(r"[+-]?\d+", raw) else Decimal(raw)
        if kind == "date":
            return date.fromisoformat(raw)
        if kind == "datetime":
            return parse_sf_datetime(raw)
    except ValueError as exc:
        raise SoqlSyntaxError(f"invalid {kind} literal {raw!r}: {exc}", pos) from None
    return None


def parse_sf_datetime(text: str) -> datetime:
    """Parse a datetime as SOQL or the REST API writes it (``Z``, ``+hh:mm`` or ``+hhmm``).

    Fractional seconds of any length are accepted and truncated to microseconds; the result is
    always timezone-aware.
    """
    m = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?", text.strip()
    )
    if m is None:
        raise ValueError(f"not a datetime: {text!r}")
    day, hh, mm, ss, frac, zone = m.groups()
    micros = int((frac or "0")[:6].ljust(6, "0"))
    tz = UTC
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    d = date.fromisoformat(day)
    return datetime(d.year, d.month, d.day, int(hh), int(mm), int(ss), micros, tzinfo=tz)


# ------------------------------------------------------------------------------------ parser


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, expected: str, tok: _Token | None = None) -> SoqlSyntaxError:
        tok = tok or self.tok
        found = "end of input" if tok.kind == "eof" else f"'{tok.text}'"
        return SoqlSyntaxError(f"expected {expected}, found {found}", tok.pos)

    def accept_word(self, *words: str) -> str | None:
        if self.tok.word() in words:
            return self.advance().word()
        return None

    def expect_word(self, word: str) -> None:
        if not self.accept_word(word):
            raise self.fail(word)

    def expect_punct(self, ch: str) -> None:
        if self.tok.kind != "punct" or self.tok.text != ch:
            raise self.fail(f"'{ch}'")
        self.advance()

    def expect_end(self) -> None:
        if self.tok.kind != "eof":
            raise SoqlSyntaxError(f"unexpected token '{self.tok.text}'", self.tok.pos)

    def field_path(self) -> str:
        tok = self.tok
        if tok.kind != "ident" or tok.word() in _RESERVED:
            if tok.kind == "punct" and tok.text == "(" and self._peek_word(1) == "SELECT":
                raise SoqlSyntaxError("subqueries are not supported", tok.pos)
            raise self.fail("a field name")
        self.advance()
        return tok.text

    def _peek_word(self, ahead: int) -> str | None:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)].word()

    # condition := term ((AND term)* | (OR term)*)
    def condition(self) -> Condition:
        first = self.unary()
        joiner = self.tok.word() if self.tok.word() in ("AND", "OR") else None
        if joiner is None:
            return first
        items = [first]
        while self.tok.word() in ("AND", "OR"):
            if self.tok.word() != joiner:
                raise SoqlSyntaxError(
                    f"cannot mix AND and OR without parentheses: found {self.tok.word()}", self.tok.pos
                )
            self.advance()
            items.append(self.unary())
        return And(tuple(items)) if joiner == "AND" else Or(tuple(items))

    def unary(self) -> Condition:
        if self.tok.word() == "NOT" and self.tokens[self.i + 1].kind != "op":
            self.advance()
            return Not(self.unary())
        if self.tok.kind == "punct" and self.tok.text == "(":
            if self._peek_word(1) == "SELECT":
                raise SoqlSyntaxError("subqueries are not supported", self.tok.pos)
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.predicate()

    def predicate(self) -> Condition:
        name = self.field_path()
        tok = self.tok
        if tok.kind == "op":
            self.advance()
            op = "!=" if tok.text == "<>" else tok.text
            return Comparison(name, op, self.value())
        word = tok.word()
        if word == "LIKE":
            self.advance()
            value_tok = self.tok
            value = self.value()
            if not isinstance(value, str):
                raise SoqlSyntaxError("LIKE needs a quoted string pattern", value_tok.pos)
            return Comparison(name, "LIKE", value)
        if word == "IN" or (word == "NOT" and self._peek_word(1) == "IN"):
            self.advance()
            negated = word == "NOT"
            if negated:
                self.advance()
            return InList(name, self.value_list(), negated)
        if word in ("INCLUDES", "EXCLUDES"):
            raise SoqlSyntaxError(f"{word} is not supported", tok.pos)
        raise self.fail("a comparison operator (= != < <= > >= LIKE IN NOT IN)")

    def value_list(self) -> tuple[Value, ...]:
        self.expect_punct("(")
        if self.tok.word() == "SELECT":
            raise SoqlSyntaxError("subqueries are not supported", self.tok.pos)
        values = [self.value()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.advance()
            values.append(self.value())
        self.expect_punct(")")
        return tuple(values)

    def value(self) -> Value:
        tok = self.tok
        if tok.kind in ("string", "number", "date", "datetime"):
            self.advance()
            return tok.value
        word = tok.word()
        if word in _WORD_VALUES:
            self.advance()
            return _WORD_VALUES[word]
        raise self.fail("a value (quoted string, number, date, datetime, true, false or null)")

    def query(self) -> Query:
        self.expect_word("SELECT")
        count, fields = self.select_list()
        self.expect_word("FROM")
        sobject = self.tok
        if sobject.kind != "ident" or "." in sobject.text or sobject.word() in _RESERVED:
            raise self.fail("an object name")
        self.advance()
        where = self.condition() if self.accept_word("WHERE") else None
        order_by: tuple[OrderItem, ...] = ()
        if self.accept_word("ORDER"):
            self.expect_word("BY")
            order_by = self.order_list()
        limit = self.integer() if self.accept_word("LIMIT") else None
        offset = self.integer() if self.accept_word("OFFSET") else None
        self.expect_end()
        return Query(sobject.text, fields, count, where, order_by, limit, offset)

    def select_list(self) -> tuple[bool, tuple[str, ...]]:
        if self.tok.word() == "COUNT" and self.tokens[self.i + 1].text == "(":
            self.advance()
            self.advance()
            if not (self.tok.kind == "punct" and self.tok.text == ")"):
                raise SoqlSyntaxError("only COUNT() is supported, not COUNT(field)", self.tok.pos)
            self.advance()
            return True, ()
        fields = [self.field_path()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.advance()
            fields.append(self.field_path())
        if self.tok.kind == "punct" and self.tok.text == "(":
            raise SoqlSyntaxError("functions in the field list are not supported", self.tok.pos)
        return False, tuple(fields)

    def order_list(self) -> tuple[OrderItem, ...]:
        items = [self.order_item()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.advance()
            items.append(self.order_item())
        return tuple(items)

    def order_item(self) -> OrderItem:
        name = self.field_path()
        descending = self.accept_word("ASC", "DESC") == "DESC"
        nulls_last = False
        if self.accept_word("NULLS"):
            which = self.accept_word("FIRST", "LAST")
            if which is None:
                raise self.fail("FIRST or LAST")
            nulls_last = which == "LAST"
        return OrderItem(name, descending, nulls_last)

    def integer(self) -> int:
        tok = self.tok
        if tok.kind != "number" or not isinstance(tok.value, int) or tok.value < 0:
            raise self.fail("a non-negative integer")
        self.advance()
        return tok.value


_WORD_VALUES: dict[str, Value] = {"NULL": None, "TRUE": True, "FALSE": False}
_RESERVED = {
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "NULL", "TRUE", "FALSE", "ORDER",
    "BY", "LIMIT", "OFFSET", "ASC", "DESC", "NULLS", "GROUP", "HAVING", "INCLUDES", "EXCLUDES",
}


def parse_query(text: str) -> Query:
    """Parse a full SELECT statement.

    Raises:
        SoqlSyntaxError: the text is not in the supported subset; the message says what and where.
    """
    parser = _Parser(text)
    if parser.tok.kind == "eof":
        raise SoqlSyntaxError("SOQL statements cannot be empty or null", 0)
    return parser.query()


def parse_condition(text: str) -> Condition:
    """Parse a WHERE condition on its own (the mapping's ``criteria``).

    Raises:
        SoqlSyntaxError: the text is not a single valid condition.
    """
    parser = _Parser(text)
    if parser.tok.kind == "eof":
        raise SoqlSyntaxError("the condition is empty", 0)
    cond = parser.condition()
    if parser.tok.kind == "punct" and parser.tok.text == ")":
        raise SoqlSyntaxError("unbalanced parenthesis ')'", parser.tok.pos)
    parser.expect_end()
    return cond


# ---------------------------------------------------------------------------- builder/render


def quote(value: Value) -> str:
    """Render one value as a SOQL literal, escaped.

    Strings are single-quoted (``\\`` ``'`` and control characters escaped); datetimes must be
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


def _escape_string(value: str) -> str:
    out = value.replace("\\", "\\\\").replace("'", "\\'")
    out = out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    # A '\%' or '\_' pair came from a LIKE pattern's escape: restore it rather than doubling it.
    return out.replace("\\\\%", "\\%").replace("\\\\_", "\\_")


def _quote_datetime(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no instant: make it timezone-aware")
    utc = value.astimezone(UTC)
    text = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    millis = utc.microsecond // 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def to_soql(node: Condition | Query) -> str:
    """Render a condition (or a whole query) back to SOQL text that :func:`parse_condition` reads."""
    if isinstance(node, Query):
        return _render_query(node)
    if isinstance(node, Comparison):
        return f"{node.field} {node.op} {quote(node.value)}"
    if isinstance(node, InList):
        keyword = "NOT IN" if node.negated else "IN"
        return f"{node.field} {keyword} ({', '.join(quote(v) for v in node.values)})"
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
    parts = ["SELECT", "COUNT()" if q.count else ", ".join(q.fields), "FROM", q.sobject]
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


def and_(*items: Condition | None) -> Condition:
    """AND of the given conditions; ``None`` items are skipped, a single one is returned as is."""
    return _join(And, items)


def or_(*items: Condition | None) -> Condition:
    """OR of the given conditions; ``None`` items are skipped, a single one is returned as is."""
    return _join(Or, items)


def not_(item: Condition) -> Condition:
    return Not(item)


def _join(kind: type[And] | type[Or], items: tuple[Condition | None, ...]) -> Condition:
    kept = tuple(item for item in items if item is not None)
    if not kept:
        raise ValueError(f"{kind.__name__} needs at least one condition")
    for item in kept:
        if not isinstance(item, Condition):
            raise TypeError(f"not a SOQL condition: {item!r}")
    return kept[0] if len(kept) == 1 else kind(kept)


# -------------------------------------------------------------------------------- evaluation


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
        return _compare(_resolve(record, condition.field), condition.op, condition.value, condition.field)
    if isinstance(condition, InList):
        actual = _resolve(record, condition.field)
        hit = any(_compare(actual, "=", v, condition.field) for v in condition.values)
        return not hit if condition.negated else hit
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
        return _like_regex(literal).fullmatch(actual) is not None
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
def _like_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append({"%": ".*", "_": "."}.get(ch) or re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)
