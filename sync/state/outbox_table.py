"""The outbox table: Salesforce writes waiting to be sent, coalesced per deal and field.

A part of :class:`sync.state.store.State` (its base class), kept apart so the store stays one screen
of queries per table; the flush (``sync.backsync.outbox``) reads and settles it per collection call.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from typing import Any

from sqlite_utils import Database

from sync.common.clock import iso, utcnow
from sync.common.redaction import redact  # a server may echo a secret in its error
from sync.state import batch
from sync.state.codec import dumps, loads

OUTBOX_COLUMNS = ("record_id", "field", "value", "attempts", "last_error", "updated_at")
_QUEUE = (
    "ON CONFLICT(record_id, field) DO UPDATE SET value = excluded.value, "
    "updated_at = excluded.updated_at"
)


class OutboxTable:
    """The outbox's queries; ``State`` supplies ``db``."""

    db: Database

    def queue(self, record_id: str, values: dict[str, Any]) -> None:
        """Coalesce pending Salesforce writes per deal and field: the newest value wins."""
        self.queue_all([(record_id, values)])

    def queue_all(self, writes: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """``queue`` for many deals, one statement (a batch's links, a back-sync chunk's values)."""
        now = iso(utcnow())
        batch.insert(
            self.db,
            "outbox",
            OUTBOX_COLUMNS,
            (
                (record_id, field, dumps(value), 0, None, now)
                for record_id, values in writes
                for field, value in values.items()
            ),
            _QUEUE,
        )

    def outbox(
        self, limit: int | None = None, exclude: Set[str] = frozenset()
    ) -> dict[str, dict[str, Any]]:
        """Pending writes grouped per deal, oldest deals first, at most ``limit`` deals."""
        grouped: dict[str, dict[str, Any]] = {}
        for row in self.db.query("SELECT * FROM outbox ORDER BY updated_at, record_id, field"):
            if row["record_id"] in exclude:
                continue
            if row["record_id"] not in grouped and limit is not None and len(grouped) >= limit:
                continue
            grouped.setdefault(row["record_id"], {})[row["field"]] = loads(row["value"])
        return grouped

    def outbox_fields(self, record_ids: Iterable[str] | None = None) -> set[tuple[str, str]]:
        """(deal, field) pairs waiting in the outbox (of ``record_ids``: a page's, not the whole
        outbox once a page, which a first run over 100,000 deals read 50 times): the diff must not
        queue them twice."""
        if record_ids is None:
            return {
                (row[0], row[1]) for row in self.db.execute("SELECT record_id, field FROM outbox")
            }
        return {
            (row[0], row[1])
            for chunk in batch.batched(record_ids, batch.VARIABLES)
            for row in self.db.execute(
                "SELECT record_id, field FROM outbox "
                f"WHERE record_id IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
        }

    def outbox_count(self) -> int:
        return self.db.execute("SELECT COUNT(DISTINCT record_id) FROM outbox").fetchone()[0]

    def outbox_ids(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT DISTINCT record_id FROM outbox")}

    def outbox_order(self) -> list[str]:
        """The deals waiting in the outbox, oldest first (the order ``outbox`` gives them), read
        once per flush: each collection call then reads only its own deals (``outbox_of``)."""
        return [
            row[0]
            for row in self.db.execute(
                "SELECT record_id FROM outbox "
                "GROUP BY record_id ORDER BY MIN(updated_at), record_id"
            )
        ]

    def outbox_of(self, record_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The pending writes of these deals, in the order given (a deal with none is left out)."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in batch.batched(record_ids, batch.VARIABLES):
            for row in self.db.execute(
                f"SELECT record_id, field, value FROM outbox WHERE record_id IN "
                f"({', '.join('?' * len(chunk))}) ORDER BY field",
                chunk,
            ):
                found.setdefault(row[0], {})[row[1]] = loads(row[2])
        return {record_id: found[record_id] for record_id in record_ids if record_id in found}

    def settle_outbox(self, record_id: str, sent: dict[str, Any]) -> None:
        """Remove what was written, unless a newer value was queued meanwhile."""
        self.settle_outbox_all({record_id: sent})

    def settle_outbox_all(self, sent: dict[str, dict[str, Any]]) -> None:
        """``settle_outbox`` for a collection call's deals, in one statement per chunk."""
        rows = [
            (record_id, field, dumps(value))
            for record_id, values in sent.items()
            for field, value in values.items()
        ]
        for chunk in batch.batched(rows, batch.VARIABLES // 4):
            ids = sorted(
                {row[0] for row in chunk}
            )  # the primary key finds the rows; a bare row-value IN scans
            self.db.execute(
                f"DELETE FROM outbox WHERE record_id IN ({', '.join('?' * len(ids))}) AND "
                "(record_id, field, value) IN (VALUES "
                + ", ".join(["(?, ?, ?)"] * len(chunk))
                + ")",
                [*ids, *(v for row in chunk for v in row)],
            )

    def outbox_attempts(self, record_id: str) -> int:
        row = self.db.execute(
            "SELECT MAX(attempts) FROM outbox WHERE record_id = ?", [record_id]
        ).fetchone()
        return row[0] or 0

    def fail_outbox(self, record_id: str, error: str) -> None:
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE record_id = ?",
            [redact(error), record_id],
        )

    def drop_outbox(self, record_id: str) -> None:
        self.db["outbox"].delete_where("record_id = ?", [record_id])
