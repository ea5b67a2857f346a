"""The state file's reporting queries: what `status`, `status --check`, `explain`, `retry`, the
metrics and the forecast ask of it. None of them writes.

Kept apart from :mod:`sync.state.store` (the run's queries and its commit points) so that the store
stays readable, and so that no module outside ``sync.state`` needs SQL of its own: the state package
is the one door to the file (tests/unit/state/test_state_door.py holds every other module to it).
``State`` inherits these; a file made before a migration, opened read-only (never migrated), answers
as if the newer table or column were empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from sqlite_utils import Database

from sync.state.codec import loads


class Reads:
    """Read-only queries; mixed into ``State``, whose ``db`` they read."""

    db: Database

    @classmethod
    @contextmanager
    def reading(cls, path: Path) -> Iterator[Self | None]:
        """``with State.reading(path) as state:`` the file read-only (no lock, migration or write;
        safe while a run holds the lock), closed at the end; ``None`` when there is no state yet."""
        state = cls.open_readonly(path)  # type: ignore[attr-defined]
        try:
            yield state
        finally:
            if state is not None:
                state.close()

    # -- runs ---------------------------------------------------------------------------------
    def runs(self, limit: int = 10) -> list[dict]:
        rows = self.db.query("SELECT * FROM runs ORDER BY id DESC LIMIT ?", [limit])
        return [
            dict(
                row,
                counts=loads(row["counts"]),
                api_calls=loads(row["api_calls"]),
                org_usage=loads(row["org_usage"]),
            )
            for row in rows
        ]

    def last_finished_run(self) -> dict | None:
        """The newest run that finished, whatever its outcome."""
        rows = list(
            self.db.query(
                "SELECT * FROM runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1"
            )
        )
        return rows[0] if rows else None

    def last_success(self) -> str | None:
        """When the last successful ``run`` (exit 0 or 1; a daemon cycle is one, its ``events``
        cycles too) finished."""
        return self.db.execute(
            "SELECT MAX(finished_at) FROM runs WHERE mode IN ('run', 'events') "
            "AND exit_code IN (0, 1)"
        ).fetchone()[0]

    def died_since(self, since: str) -> tuple[int, str | None]:
        """(how many runs started at or after ``since`` died, when the last of them started)."""
        died, last = self.db.execute(
            "SELECT COUNT(*), MAX(started_at) FROM runs WHERE status = 'died' AND started_at >= ?",
            [since],
        ).fetchone()
        return died, last

    def last_org_usage(self) -> dict | None:
        """The org's API usage (``used``, ``max``), as Salesforce last told a run."""
        row = self.db.execute(
            "SELECT org_usage FROM runs WHERE org_usage IS NOT NULL AND org_usage != 'null' "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return loads(row[0]) if row else None

    # -- events -------------------------------------------------------------------------------
    def events(self, record_id: str) -> list[dict]:
        return [
            dict(row, detail=loads(row["detail"]))
            for row in self.db["events"].rows_where("record_id = ?", [record_id], order_by="id")
        ]

    def run_events(self, run_id: int, action: str, outcome: str) -> Iterator[tuple[str, Any]]:
        """(at, detail) of one run's events of ``action`` that ended in ``outcome``, in order, one
        at a time: a first run's creates decoded into one list made the end of its peak memory."""
        rows = self.db.execute(
            "SELECT at, detail FROM events WHERE run_id = ? AND action = ? AND outcome = ? "
            "ORDER BY id",
            [run_id, action, outcome],
        )
        for at, detail in rows:
            yield at, loads(detail)

    def latest_events(self, action: str, outcome: str, limit: int) -> list[tuple[str, Any]]:
        """Linked deals whose last ``action`` ended in ``outcome``: (deal, detail), newest first."""
        rows = self.db.execute(
            "SELECT e.record_id, e.detail FROM events e "
            "JOIN (SELECT record_id, MAX(id) AS last FROM events "
            "WHERE action = ? GROUP BY record_id) m ON e.id = m.last "
            "JOIN links l ON l.record_id = e.record_id "
            "WHERE e.outcome = ? ORDER BY e.id DESC LIMIT ?",
            [action, outcome, limit],
        ).fetchall()
        return [(record_id, loads(detail)) for record_id, detail in rows]

    # -- links, quarantine, outbox ------------------------------------------------------------
    def record_of_key(self, key: str) -> str | None:
        """The deal whose project has ``key`` (external-Id keys): its intent's, else its link's."""
        for table in ("intents", "links"):
            row = self.db.execute(f"SELECT record_id FROM {table} WHERE key = ?", [key]).fetchone()
            if row:
                return row[0]
        return None

    def older_mapping(self, fingerprint: str) -> list[str]:
        """Deals whose snapshot was made with another mapping than ``fingerprint`` (all of them in a
        file older than the ``mapping`` column)."""
        if "mapping" not in self.db["links"].columns_dict:
            return [
                row[0] for row in self.db.execute("SELECT record_id FROM links ORDER BY record_id")
            ]
        rows = self.db.execute(
            "SELECT record_id FROM links WHERE mapping IS NULL OR mapping != ? ORDER BY record_id",
            [fingerprint],
        )
        return [row[0] for row in rows]

    def quarantined_before(self, stamp: str) -> int:
        """How many deals have been in the quarantine since before ``stamp``."""
        return self.db.execute(
            "SELECT COUNT(DISTINCT record_id) FROM quarantine WHERE first_seen < ?", [stamp]
        ).fetchone()[0]

    def outbox_waiting_since(self, stamp: str) -> tuple[int, str | None]:
        """(how many deals' write-backs have waited since before ``stamp``, the oldest's stamp)."""
        stuck, oldest = self.db.execute(
            "SELECT COUNT(DISTINCT record_id), MIN(updated_at) FROM outbox WHERE updated_at < ?",
            [stamp],
        ).fetchone()
        return stuck, oldest

    def retry_ids(self, record_id: str | None = None) -> list[str]:
        """What `retry` re-processes: the quarantined deals (or ``record_id`` if quarantined), then
        ``record_id`` if it was unlinked by hand (ignored)."""
        ids = sorted({q["record_id"] for q in self.quarantined(record_id)})
        if record_id is not None:
            ids += [i for i in self.ignored([record_id]) if i not in ids]
        return ids

    def quarantined(self, record_id: str | None = None) -> list[dict]:
        where, args = ("record_id = ?", [record_id]) if record_id else (None, [])
        return [
            dict(row, payload=loads(row["payload"]))
            for row in self.db["quarantine"].rows_where(where, args, order_by="record_id")
        ]

    def ignored(self, record_ids: Any = None) -> dict[str, dict]:
        """Ignored deals (of ``record_ids``, or all): Id → key, detail, since. A file made before
        the table existed, opened read-only, has none."""
        if "ignored" not in self.db.table_names():
            return {}
        wanted = (
            None if record_ids is None else set(record_ids)
        )  # a few deals: read them all, then pick
        return {
            row["record_id"]: dict(row, detail=loads(row["detail"]))
            for row in self.db["ignored"].rows
            if wanted is None or row["record_id"] in wanted
        }

    def counts(self) -> dict[str, int]:
        return {
            "links": self.db["links"].count,
            "quarantine": self.db.execute(
                "SELECT COUNT(DISTINCT record_id) FROM quarantine"
            ).fetchone()[0],
            "outbox": self.db.execute("SELECT COUNT(DISTINCT record_id) FROM outbox").fetchone()[0],
            "intents": self.db["intents"].count,
            "ignored": self.db["ignored"].count if "ignored" in self.db.table_names() else 0,
        }
