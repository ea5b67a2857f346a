"""How values are written into the state file's text columns, and read back.

Plain JSON has no Decimal, date or datetime: read back as strings or floats, a stored snapshot
would no longer compare equal to freshly transformed values. Tagging them makes them survive the
round trip. ``link_of`` lives here too, as the one place that decodes a whole ``links`` row.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from sync.common.clock import iso, parse_iso
from sync.common.model import Link


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": iso(value)}
    if hasattr(value, "isoformat"):
        return {"$date": value.isoformat()}
    raise TypeError(f"cannot store {type(value).__name__}")


def _hook(obj: dict) -> Any:
    if len(obj) == 1:
        ((tag, value),) = obj.items()
        if tag == "$decimal":
            return Decimal(value)
        if tag == "$datetime":
            return parse_iso(value)
        if tag == "$date":
            from datetime import date

            return date.fromisoformat(value)
    return obj


def dumps(value: Any) -> str:
    """Typed JSON: Decimal, date and datetime survive a round trip through the state file."""
    return _ENCODER.encode(value)


def loads(text: str | None) -> Any:
    return None if text is None else _DECODER.decode(text)


# Made once: json.dumps and json.loads with options build a new encoder or decoder every call, which
# was a fifth of the JSON cost of a first run (20 values a deal).
_ENCODER = json.JSONEncoder(default=_default, sort_keys=True, separators=(",", ":"))
_DECODER = json.JSONDecoder(object_hook=_hook)


def link_of(row: dict) -> Link:
    """A ``links`` row → :class:`Link` (the column ``record_id`` is the record Id)."""
    return Link(
        record_id=row["record_id"],
        key=row["key"],
        project_id=row["project_id"],
        project_identifier=row["project_identifier"],
        project_url=row["project_url"],
        payload_hash=row["payload_hash"],
        payload=loads(row["payload"]) or {},
        written=loads(row["written"]) or {},
        backsync=loads(row["backsync"]) or {},
        link_state=row["link_state"],
        sf_status=row["sf_status"],
        closed_by=row["closed_by"],
        pending=loads(row["pending"]) or {},
        kept_psa=loads(row["kept_psa"]) or [],
        mapping=row.get("mapping"),
    )
