"""Bulk API 2.0 query results as CSV, written as an org writes them.

Every header name and value is quoted (quotes doubled, so commas, quotes and line breaks inside a
value need nothing more), a null is an empty unquoted field, checkboxes are ``true``/``false``,
datetimes ``2026-03-01T10:00:00.000Z``, dates ``2026-03-01``, numbers plain decimals, text UTF-8.
unverified: that a null is written unquoted (an org stores no empty text, so readers cannot tell).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sync.emulator.query import RowPlan
from sync.emulator.schema import NUMBER_TYPES

DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}


def render_csv(
    plan: RowPlan, rows: list[tuple], delimiter: str = "COMMA", line_ending: str = "LF"
) -> str:
    """One result set: a header of the API names in the order requested (parent fields as
    ``Account.Name``), then a line per row; every line ends with the job's line ending."""
    entries = plan.entries
    delimiter, eol = DELIMITERS[delimiter], LINE_ENDINGS[line_ending]
    header = [".".join([rel for rel, _, _ in entry.chain] + [entry.name]) for entry in entries]
    lines = [delimiter.join(_quote(name) for name in header)]
    for row in rows:
        lines.append(delimiter.join(_cell(entry.type, row[entry.column]) for entry in entries))
    return eol.join(lines) + eol


def _cell(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "boolean":
        text = "true" if value else "false"
    elif kind == "datetime":
        text = value[:-5] + "Z" if value.endswith("+0000") else value
    elif kind == "int":
        text = str(int(value))
    elif kind in NUMBER_TYPES:
        text = plain_decimal(float(value))
    else:
        text = str(value)
    return _quote(text)


def plain_decimal(number: float) -> str:
    """A double as a plain decimal, never in exponent form.

    ``1e+20`` → ``100000000000000000000.0``.
    """
    text = repr(number)
    if "e" not in text:
        return text
    plain = format(Decimal(text), "f")
    return plain if "." in plain else plain + ".0"


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'
