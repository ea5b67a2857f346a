"""The ``pipeline`` table (migration m005): open deals matching the mapping's ``pipeline.criteria``.

The pipeline stream writes it (one ``upsert_all`` a page); ``psa-sync forecast`` reads it. Here are
the two small functions both sides share, so the columns and the payload's codec (the same typed
JSON as ``links.payload``) are written down once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlite_utils import Database

from sync.state.codec import dumps, loads

COLUMNS = ("opportunity_id", "stage", "probability", "amount", "close_date", "owner_id", "payload", "status",
           "first_seen", "updated_at", "run_id")
STATUSES = ("open", "dropped", "won", "lost")


def pipeline_rows(db: Database, status: str | None = "open") -> Iterator[dict[str, Any]]:
    """The table's rows (those of ``status``; None: all), ``payload`` decoded, by deal Id.

    A state file made before the table existed (opened read-only, never migrated) has none.
    """
    if "pipeline" not in db.table_names():
        return
    where, args = ("status = ?", [status]) if status else (None, [])
    for row in db["pipeline"].rows_where(where, args, order_by="opportunity_id"):
        yield dict(row, payload=loads(row["payload"]) or {})


def upsert_pipeline(db: Database, rows: Iterable[dict[str, Any]]) -> None:
    """Insert or replace rows (``payload`` given as a dict); one transaction."""
    encoded = []
    for row in rows:
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ValueError(f"pipeline has no column(s) {', '.join(sorted(unknown))}")
        encoded.append({**row, "payload": dumps(row.get("payload") or {})})
    with db.atomic():
        db["pipeline"].upsert_all(encoded, pk="opportunity_id")
