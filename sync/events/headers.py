"""A change event's header, decoded with the writer schema its ``schema_id`` names (cached by id).

Events only name records (docs/architecture.md §16): psa-sync reads the ``ChangeEventHeader`` and
never the body, which holds only changed fields, no formulas and epoch dates. ``changedFields`` is a
list of hex bitmaps over the schema's fields (decoded by ``sync.events.decode``, nested ones as
``Parent.Child``); it is meaningful only against the schema of that very event, which is why schemas
are cached by id and never by topic. An event without a bitmap has ``changed_fields`` None, never an
empty set: "nothing changed" would make any UPDATE look like an echo.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sync.common.errors import ProtocolViolation
from sync.events.decode import BitmapError, Decoder

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
        return self.change_type == "GAP_OVERFLOW" or any(
            i.endswith("*") or i == OVERFLOW_ID for i in self.record_ids
        )


class Schemas:
    """Writer schemas by id, each fetched (``fetch(schema_id) -> schema JSON``) and parsed once."""

    def __init__(self, fetch: Callable[[str], str]):
        self._fetch = fetch
        self._known: dict[str, Decoder] = {}

    def __getitem__(self, schema_id: str) -> Decoder:
        if schema_id not in self._known:
            self._known[schema_id] = Decoder(self._fetch(schema_id))
        return self._known[schema_id]

    def __len__(self) -> int:
        return len(self._known)


def decode_header(decoder: Decoder, payload: bytes) -> Header:
    """The header of one event (``sync.events.decode``); raises ProtocolViolation when the payload
    does not fit its schema."""
    try:
        event = decoder.event(payload)
    except (BitmapError, KeyError, TypeError, ValueError, EOFError, IndexError) as exc:
        raise ProtocolViolation(
            f"a change event does not fit the schema it names ({exc}); it is re-read by the "
            "next poll"
        ) from exc
    return Header(
        entity=event.entity,
        record_ids=event.record_ids,
        change_type=event.change_type,
        change_origin=event.change_origin,
        commit_ms=int(event.commit_timestamp or 0),
        changed_fields=frozenset(event.changed_fields) or None,
    )
