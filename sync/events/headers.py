"""A change event's header, decoded with the writer schema its ``schema_id`` names (cached by id).

Events only name records (docs/architecture.md §15): psa-sync reads the ``ChangeEventHeader`` and
never the body, which holds only changed fields, no formulas and epoch dates. ``changedFields`` is a
list of hex bitmaps over the schema's top-level fields (bit i: the i-th field; ``"N-0xBITS"``: fields
inside the compound field at position N, reported here as that field's name); it is meaningful only
against the schema of that very event, which is why schemas are cached by id and never by topic.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass

import fastavro

from sync.errors import ProtocolViolation

HEADER = "ChangeEventHeader"
OVERFLOW_ID = "000000000000000AAA"  # the recordIds of a GAP_OVERFLOW event


@dataclass(frozen=True)
class Header:
    entity: str
    record_ids: tuple[str, ...]
    change_type: str  # CREATE, UPDATE, DELETE, UNDELETE, GAP_*, GAP_OVERFLOW
    change_origin: str
    commit_ms: int  # commitTimestamp: ms since the epoch
    changed_fields: frozenset[str] | None  # None: the event carried no bitmap (gap events)

    @property
    def wildcard(self) -> bool:
        """Ids unknown: an overflow, or a ``006*`` after a lossy field type conversion."""
        return self.change_type == "GAP_OVERFLOW" or any(i.endswith("*") or i == OVERFLOW_ID
                                                         for i in self.record_ids)


@dataclass(frozen=True)
class Schema:
    parsed: dict
    fields: tuple[str, ...]


class Schemas:
    """Writer schemas by id, each fetched once (``fetch(schema_id) -> schema JSON``)."""

    def __init__(self, fetch: Callable[[str], str]):
        self._fetch = fetch
        self._known: dict[str, Schema] = {}

    def __getitem__(self, schema_id: str) -> Schema:
        if schema_id not in self._known:
            raw = json.loads(self._fetch(schema_id))
            self._known[schema_id] = Schema(fastavro.parse_schema(raw), tuple(f["name"] for f in raw["fields"]))
        return self._known[schema_id]

    def __len__(self) -> int:
        return len(self._known)


def decode_header(schema: Schema, payload: bytes) -> Header:
    """The header of one event; raises ProtocolViolation when the payload does not fit its schema."""
    try:
        record = fastavro.schemaless_reader(io.BytesIO(payload), schema.parsed)
        head = record[HEADER]
        return Header(entity=head.get("entityName") or "", record_ids=tuple(head.get("recordIds") or ()),
                      change_type=str(head.get("changeType") or ""), change_origin=head.get("changeOrigin") or "",
                      commit_ms=int(head.get("commitTimestamp") or 0),
                      changed_fields=_expand(head.get("changedFields"), schema.fields))
    except (KeyError, TypeError, ValueError, EOFError, IndexError) as exc:
        raise ProtocolViolation(f"a change event does not fit the schema it names ({exc}); it is re-read by the "
                                "next poll") from exc


def _expand(bitmaps: list[str] | None, fields: tuple[str, ...]) -> frozenset[str] | None:
    if not bitmaps:
        return None
    names: set[str] = set()
    for entry in bitmaps:
        if "-" in entry:  # "N-0xBITS": something inside the compound field at position N changed
            position = int(entry.split("-", 1)[0])
            names.add(fields[position])
            continue
        bits = int(entry, 16)
        if bits >> len(fields):
            raise ValueError(f"changedFields bitmap {entry} names a field past the schema's {len(fields)}")
        names.update(name for i, name in enumerate(fields) if bits >> i & 1)
    return frozenset(names)
