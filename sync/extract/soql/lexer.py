"""SOQL tokens: words, operators, escaped quoted strings, numbers, date and datetime literals."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sync.extract.soql.nodes import SoqlSyntaxError

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
_NAMED = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}  # Salesforce reads \N … \F too
_ESCAPES = {**_NAMED, **{k.upper(): v for k, v in _NAMED.items()}, '"': '"', "'": "'", "\\": "\\"}
LIKE_ESCAPABLE = "\\%_"  # the characters a LIKE pattern escapes to make them literal


@dataclass(frozen=True)
class _Token:
    kind: str  # ident number string date datetime op punct eof
    text: str
    pos: int
    value: Any = None

    def word(self) -> str | None:
        """The upper-cased text when this is a bare word (keywords are case-insensitive)."""
        return self.text.upper() if self.kind == "ident" else None


def _read_string(text: str, start: int, like: bool) -> tuple[str, int]:
    """Decode the quoted string whose body starts at ``start``; return (value, end index).

    The context decides what a backslash before ``%`` or ``_`` means, as in Salesforce: in a LIKE
    pattern (``like``) it makes a literal, and the value keeps the pattern's own escapes (``\\%``
    ``\\_`` ``\\\\``, also for a ``\\u`` escape of one of those characters) so a literal is never
    mistaken for a wildcard; in any other literal it is an error.
    """
    out: list[str] = []
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "'":
            return "".join(out), i + 1
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(text):
            break
        nxt, width = text[i + 1], 2
        if nxt == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", text[i + 2 : i + 6]):
            char, width = chr(int(text[i + 2 : i + 6], 16)), 6
        elif nxt in _ESCAPES:
            char = _ESCAPES[nxt]
        elif nxt in "%_" and like:
            char = nxt
        elif nxt in "%_":
            raise SoqlSyntaxError(
                f"'\\{nxt}' is an escape only in a LIKE pattern ('{nxt}' needs none here)", i
            )
        else:
            raise SoqlSyntaxError(f"invalid escape sequence '\\{nxt}' in string", i)
        out.append("\\" + char if like and char in LIKE_ESCAPABLE else char)
        i += width
    raise SoqlSyntaxError("unterminated string literal", start - 1)


def string_value(text: str, token: _Token, like: bool = False) -> str:
    """The value of a string token, decoded for its context (see :func:`_read_string`)."""
    return _read_string(text, token.pos + 1, like)[0]


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
            _, end = _read_string(text, pos + 1, like=True)  # the end only: the parser decodes
            tokens.append(_Token("string", text[pos:end], pos))
            pos = end
            continue
        raw = m.group(kind)
        if kind == "baddatetime":
            raise SoqlSyntaxError(
                f"malformed datetime literal {raw!r}: "
                "use YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm|-hh:mm)",
                pos,
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
        r"(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?",
        text.strip(),
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
