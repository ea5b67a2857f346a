"""The ``State`` store: every query the sync makes of the state file, behind one class.

Kept apart from the schema (``migrations``) and the value encoding (``codec``) so that the queries
the exactly-once behaviour rests on, and where they commit, can be read on their own. The links
(``links_table``), the outbox (``outbox_table``) and the reporting queries (``reads``) are its
base classes, one module each.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from sync.common.clock import iso, parse_iso, utcnow
from sync.common.model import Intent
from sync.common.redaction import (
    redact,
    redact_value,
)  # errors, reasons, details: a server may echo a secret
from sync.state import batch
from sync.state.codec import dumps, loads
from sync.state.files import open_database, open_readonly_database, write_transaction
from sync.state.links_table import LinksTable
from sync.state.migrations import read_as_current
from sync.state.outbox_table import OutboxTable
from sync.state.reads import Reads

EVENT_COLUMNS = ("run_id", "record_id", "action", "outcome", "detail", "at")


class State(Reads, LinksTable, OutboxTable):
    """The state file. Construct with ``State.open(path)`` (or read it: ``State.reading(path)``);
    every write method commits atomically. The reporting queries are inherited from :class:`Reads`,
    the links' from :class:`LinksTable`, the outbox's from :class:`OutboxTable`."""

    def __init__(self, db: Database):
        self.db = db

    @classmethod
    def open(cls, path: Path) -> State:
        """Raises StateFileError (not a state file) or LocalIOError (disk refused); both name it."""
        return cls(open_database(path))

    @classmethod
    def open_readonly(cls, path: Path) -> State | None:
        """For `plan`, `status` and `explain`: never creates, migrates or writes anything."""
        db = open_readonly_database(path)
        if db is None:
            return None
        read_as_current(db)  # a file an older psa-sync wrote reads as a migrated one
        return cls(db)

    def close(self) -> None:
        self.db.close()

    # -- meta ---------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        rows = list(self.db["meta"].rows_where("key = ?", [key]))
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with write_transaction(self.db):
            self.db["meta"].upsert({"key": key, "value": value}, pk="key")

    # -- watermarks ---------------------------------------------------------------------------
    def watermark(self, stream: str) -> datetime | None:
        rows = list(self.db["watermarks"].rows_where("stream = ?", [stream]))
        return parse_iso(rows[0]["value"]) if rows else None

    def _set_watermark(self, stream: str, value: datetime) -> None:
        self.db["watermarks"].upsert(
            {"stream": stream, "value": iso(value), "updated_at": iso(utcnow())}, pk="stream"
        )

    # -- intents ------------------------------------------------------------------------------
    def add_intents(
        self, intents: Iterable[tuple[str, str, dict]], run_id: int, action: str = "create"
    ) -> None:
        """Commit intents before the PSA is asked, so a crash after its 201 is recoverable.

        ``update`` intents mark updates whose outcome is unknown (a 5xx): the next run re-fetches
        those deals whatever their stamp, so the change is sent again rather than forgotten.
        """
        now = iso(utcnow())
        columns = ("record_id", "key", "action", "payload", "started_at", "run_id")
        with write_transaction(self.db):
            batch.insert(
                self.db,
                "intents",
                columns,
                (
                    (record_id, key, action, dumps(payload), now, run_id)
                    for record_id, key, payload in intents
                ),
                batch.upsert_clause(["record_id"], columns),
            )

    def intents(self) -> list[Intent]:
        return [
            Intent(
                record_id=row["record_id"],
                key=row["key"],
                action=row["action"],
                payload=loads(row["payload"]),
                run_id=row["run_id"],
            )
            for row in self.db["intents"].rows
        ]

    def drop_stale_intents(self, before_run: int) -> None:
        """Forget earlier runs' intents, once this run's recovery has looked up and redone them."""
        self.db["intents"].delete_where("run_id < ?", [before_run])

    def drop_intent(self, record_id: str) -> None:
        self.drop_intents([record_id])

    def drop_intents(self, record_ids: Iterable[str]) -> None:
        batch.delete(self.db, "intents", "record_id", record_ids)

    def unsettled_links(self) -> set[str]:
        """Linked records whose link write-back has not landed: their link field cannot bring them
        back into the query, so it names them."""
        linked = set(self.links(self.outbox_ids()))
        return linked | {q["record_id"] for q in self.quarantined() if q["stage"] == "write-back"}

    # -- quarantine ---------------------------------------------------------------------------
    def quarantine(self, record_id: str, stage: str, error: str, payload: Any, run_id: int) -> None:
        now = iso(utcnow())
        self.db.execute(
            "INSERT INTO quarantine "
            "(record_id, stage, error, payload, first_seen, last_seen, attempts, run_id) "
            "VALUES (?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT(record_id, stage) DO UPDATE SET "
            "error = excluded.error, payload = excluded.payload, last_seen = excluded.last_seen, "
            "attempts = quarantine.attempts + 1, run_id = excluded.run_id",
            [record_id, stage, redact(error), dumps(payload), now, now, run_id],
        )

    def release(self, record_id: str, stages: Iterable[str] | None = None) -> None:
        self.release_all([record_id], stages)

    def release_all(self, record_ids: Iterable[str], stages: Iterable[str] | None = None) -> None:
        """Take deals out of the quarantine (at ``stages`` only, if given), in one statement."""
        stages = list(stages) if stages is not None else []
        where = f"stage IN ({', '.join('?' * len(stages))})" if stages else ""
        batch.delete(self.db, "quarantine", "record_id", record_ids, where, stages)

    # -- ignored ------------------------------------------------------------------------------
    def ignore(self, record_id: str, key: str, detail: Any, run_id: int) -> None:
        """No project is made for this deal (``psa-sync unlink``); call inside ``transaction()``."""
        self.db["ignored"].upsert(
            {
                "record_id": record_id,
                "key": key,
                "detail": dumps(redact_value(detail)),
                "since": iso(utcnow()),
                "run_id": run_id,
            },
            pk="record_id",
        )

    def readmit(self, record_ids: Iterable[str], run_id: int, by: str) -> list[str]:
        """Readmit ignored deals in one commit (``by`` link or retry); returns those that were."""
        was = sorted(self.ignored(record_ids))
        with self.transaction():
            for record_id in was:
                self.db["ignored"].delete_where("record_id = ?", [record_id])
                self.event(run_id, record_id, by, "readmitted", None)
        return was

    # -- runs and events ----------------------------------------------------------------------
    def start_run(self, mode: str) -> int:
        with write_transaction(self.db):
            return (
                self.db["runs"]
                .insert({"mode": mode, "started_at": iso(utcnow()), "status": "running"})
                .last_pk
            )

    def mark_abandoned(self) -> int:
        """Runs 'running' with the lock free died mid-way (killed, power cut): mark them 'died'."""
        with write_transaction(self.db):
            return self.db.execute(
                "UPDATE runs SET status = 'died', finished_at = ?, "
                "error = 'the process ended without finishing this run; "
                "the next run recovered from the last committed page' "
                "WHERE status = 'running'",
                [iso(utcnow())],
            ).rowcount

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        exit_code: int,
        counts: dict,
        api_calls: dict,
        org_usage: dict | None,
        error: str | None,
        psa_calls: int = 0,
    ) -> None:
        with write_transaction(self.db):
            self.db["runs"].update(
                run_id,
                {
                    "finished_at": iso(utcnow()),
                    "status": status,
                    "exit_code": exit_code,
                    "counts": dumps(counts),
                    "api_calls": dumps(api_calls),
                    "org_usage": dumps(org_usage),
                    "error": redact(error) if error is not None else None,
                    "psa_calls": psa_calls,
                },
            )

    def event(
        self,
        run_id: int | None,
        record_id: str | None,
        action: str,
        outcome: str,
        detail: Any = None,
    ) -> None:
        self.add_events(run_id, [(record_id, action, outcome, detail)])

    def add_events(
        self, run_id: int | None, events: Iterable[tuple[str | None, str, str, Any]]
    ) -> None:
        """Events (record, action, outcome, detail) of a batch or a page, in one statement."""
        now = iso(utcnow())
        batch.insert(
            self.db,
            "events",
            EVENT_COLUMNS,
            (
                (run_id, record_id, action, outcome, dumps(redact_value(detail)), now)
                for record_id, action, outcome, detail in events
            ),
        )

    # -- commit points ------------------------------------------------------------------------
    def transaction(self) -> AbstractContextManager[Database]:
        """One commit point: ``with state.transaction(): ...``."""
        return write_transaction(self.db)

    def commit_page(self, stream: str, watermark: datetime | None) -> None:
        """Advance the watermark; called inside the page's transaction, after its rows are handled.

        Never backwards: the first pages of a run re-read the lookback, older than the watermark,
        and committing their stamps would widen the next run's window instead of narrowing it.
        """
        if watermark is None:
            return
        current = self.watermark(stream)
        if current is None or watermark > current:
            self._set_watermark(stream, watermark)
