"""Bulk API 2.0 CSV rows as the records a REST query returns, typed from the objects' describes.

Why not hand the CSV rows on flat: everything downstream was written against REST records. The
extract compares ``SystemModstamp`` text to check the sort order and keeps it as the window's
position, reconcile reads ``IsDeleted`` as a boolean, and a quarantined row stores its payload as
the record. A backfill read over Bulk must look to all of them like the same deals read over REST,
or a deal would hash differently by the path it came in on and the diff would see phantom changes.

CSV has no types, so each column's type comes from the describe of the object that owns the field
(a parent column such as ``Account.Owner.Name`` from the parent's describe, found through the
relationship names). The values then take the form REST JSON gives them:

- ``boolean`` → ``True``/``False``; ``int``/``long`` → ``int``; ``double``/``currency``/``percent``
  → ``float``, parsed by ``json.loads`` of the same digits, so the very float REST JSON would give;
- ``datetime`` ``2026-03-01T10:00:00.000Z`` → ``2026-03-01T10:00:00.000+0000`` (REST's offset form,
  which the extract compares as text); dates and times stay as they are;
- everything else is text, and an empty cell is ``None``: Bulk writes null and ``""`` alike, and
  REST answers null for an empty text field too, so nothing is lost that REST would have kept;
- a parent is ``{"attributes": {"type": …}, "Name": …}``, or ``None`` when every one of its columns
  is empty (REST's ``"Account": null``); ``attributes`` carry ``url`` where the Id was selected.

A field a describe does not know (a hand-written query, a field hidden from the integration user)
is kept as text: the mapping's own types still parse it, exactly as they parse CSV text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

_FLOATS = frozenset({"double", "currency", "percent"})
_INTEGERS = frozenset({"int", "long"})
_BOOLEANS = {"true": True, "false": False}


@dataclass(frozen=True)
class Column:
    """One CSV column: its path in REST form, the object at each parent level, the leaf's type."""

    path: tuple[str, ...]  # canonical names, ("Account", "Owner", "Name")
    parents: tuple[str, ...]  # the object of each parent level, ("Account", "User")
    type: str  # the describe's type of the leaf field ("string" when unknown)


class RecordShape:
    """Turns the CSV rows of one query's results into REST-shaped records.

    ``describe(sobject)`` is the client's cached describe, so a query costs one describe call per
    object it reads from, however many pages it has.
    """

    def __init__(self, sobject: str, describe: Callable[[str], dict], api_version: str):
        self.sobject = sobject
        self._describe = describe
        self._api_version = api_version
        self._fields: dict[
            str, dict[str, dict]
        ] = {}  # object → lower-cased field name → describe entry
        self._columns: dict[str, Column] = {}  # lower-cased header → Column

    def resolve(self, names: Iterable[str]) -> list[Column]:
        """The Column of each header name (describing the objects they need, once each)."""
        return [self._column(name) for name in names]

    def records(self, header: list[str], rows: Iterable[list[str]]) -> list[dict]:
        """One REST-shaped record per CSV row (cells in header order)."""
        columns = self.resolve(header)
        return [self._record(columns, row) for row in rows]

    # --- columns ----------------------------------------------------------------------------------

    def _column(self, name: str) -> Column:
        key = name.lower()
        if key not in self._columns:
            self._columns[key] = self._walk(name.split("."))
        return self._columns[key]

    def _walk(self, parts: list[str]) -> Column:
        """Follow relationship names from the queried object down to the leaf field."""
        path: list[str] = []
        parents: list[str] = []
        sobject: str | None = self.sobject
        for relationship in parts[:-1]:
            entry = self._relationship(sobject, relationship) if sobject else None
            path.append(entry["relationshipName"] if entry else relationship)
            # A polymorphic lookup (several referenceTo) is typed from its first object.
            targets = (entry or {}).get("referenceTo") or []
            sobject = targets[0] if targets else None
            parents.append(sobject or relationship)
        leaf = self._described(sobject).get(parts[-1].lower()) if sobject else None
        path.append(leaf["name"] if leaf else parts[-1])
        return Column(tuple(path), tuple(parents), leaf["type"] if leaf else "string")

    def _described(self, sobject: str) -> dict[str, dict]:
        if sobject not in self._fields:
            fields = self._describe(sobject).get("fields") or []
            self._fields[sobject] = {str(f["name"]).lower(): f for f in fields if f.get("name")}
        return self._fields[sobject]

    def _relationship(self, sobject: str, name: str) -> dict | None:
        lowered = name.lower()
        for entry in self._described(sobject).values():
            if str(entry.get("relationshipName") or "").lower() == lowered:
                return entry
        return None

    # --- records ----------------------------------------------------------------------------------

    def _record(self, columns: list[Column], row: list[str]) -> dict:
        record: dict[str, Any] = {"attributes": {"type": self.sobject}}
        for column, cell in zip(columns, row, strict=True):
            target = record
            for name, sobject in zip(column.path[:-1], column.parents, strict=True):
                target = target.setdefault(name, {"attributes": {"type": sobject}})
            target[column.path[-1]] = value_of(column.type, cell)
        for name, value in list(record.items()):
            if name != "attributes" and isinstance(value, dict):
                record[name] = _parent_or_none(value, self._url)
        self._url(record)
        return record

    def _url(self, node: dict) -> None:
        ident = node.get("Id")
        if isinstance(ident, str) and ident:
            node["attributes"]["url"] = (
                f"/services/data/v{self._api_version}/sobjects/{node['attributes']['type']}/{ident}"
            )


def _parent_or_none(node: dict, add_url: Callable[[dict], None]) -> dict | None:
    """``None`` when every column of this parent (and its own parents) is empty, as REST says it."""
    for name, value in list(node.items()):
        if name != "attributes" and isinstance(value, dict):
            node[name] = _parent_or_none(value, add_url)
    if all(value is None for name, value in node.items() if name != "attributes"):
        return None
    add_url(node)
    return node


def value_of(type_: str, cell: str) -> Any:
    """A CSV cell as REST JSON gives the value of a field of this describe type."""
    if cell == "":
        return None
    if type_ in _FLOATS or type_ in _INTEGERS:
        number = _json_number(cell)
        if number is None:
            return cell  # not a number after all: the mapping's parser reports it
        return float(number) if type_ in _FLOATS else number
    if type_ == "boolean":
        return _BOOLEANS.get(cell.lower(), cell)
    if type_ == "datetime" and cell.endswith("Z"):
        return cell[:-1] + "+0000"
    return cell


def _json_number(text: str) -> int | float | None:
    """The number JSON would read from ``text``, or None (NaN and Infinity are not JSON numbers)."""
    try:
        number = json.loads(text, parse_constant=_not_a_number)
    except ValueError:
        return None
    return number if isinstance(number, (int, float)) and not isinstance(number, bool) else None


def _not_a_number(text: str) -> Any:
    raise ValueError(text)
