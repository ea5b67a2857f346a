"""The ``pipeline`` table (migration m005): open deals matching the mapping's ``pipeline.criteria``.

The pipeline stream writes it in each page's own commit (``save``, the one writer, the rows of
:func:`sync.transform.pipeline_stream.stream_rows`; ``known`` and ``watched`` are what the run asks
of it); ``psa-sync forecast`` reads it (``pipeline_rows``). Both sides' functions are here, so the
columns and the payload's codec (the same typed JSON as ``links.payload``) are written down once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sync.common.clock import iso, utcnow
from sync.state.codec import dumps, loads
from sync.state.store import State


def pipeline_rows(state: State, status: str | None = "open") -> Iterator[dict[str, Any]]:
    """The table's rows (those of ``status``; None: all), ``payload`` decoded, by deal Id.

    A state file made before the table existed (opened read-only, never migrated) has none.
    """
    if not _present(state):
        return
    where, args = ("status = ?", [status]) if status else (None, [])
    for row in state.db["pipeline"].rows_where(where, args, order_by="record_id"):
        yield dict(row, payload=loads(row["payload"]) or {})


_UPSERT = (
    "INSERT INTO pipeline (record_id, stage, probability, amount, close_date, owner_id, payload, "
    "status, first_seen, updated_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(record_id) DO UPDATE SET "
    "stage = excluded.stage, probability = excluded.probability, amount = excluded.amount, "
    "close_date = excluded.close_date, owner_id = excluded.owner_id, "
    "payload = COALESCE(excluded.payload, pipeline.payload), status = excluded.status, "
    "updated_at = excluded.updated_at, run_id = excluded.run_id"
)


def _present(state: State) -> bool:
    return "pipeline" in state.db.table_names()  # a file older than m005, opened read-only by plan


def known(state: State | None, record_ids: Iterable[str]) -> set[str]:
    """The deals of ``record_ids`` the table holds (one query per 500 Ids)."""
    if state is None or not _present(state):
        return set()
    ids = list(record_ids)
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found |= {
            row[0]
            for row in state.db.execute(
                f"SELECT record_id FROM pipeline WHERE record_id IN ({marks})", chunk
            )
        }
    return found


def save(state: State, rows: list[dict[str, Any]], run_id: int) -> None:
    """Upsert the page's rows; call inside the page's ``transaction()``. ``first_seen`` is kept, and
    so is the ``payload`` of a deal that did not map this time (None)."""
    now = iso(utcnow())
    state.db.conn.executemany(
        _UPSERT,
        [
            [
                row["record_id"],
                row["stage"],
                row["probability"],
                row["amount"],
                row["close_date"],
                row["owner_id"],
                None if row["payload"] is None else dumps(row["payload"]),
                row["status"],
                now,
                now,
                run_id,
            ]
            for row in rows
        ],
    )


def watched(state: State | None) -> list[str]:
    """Open pipeline deals without a project: no link field brings them back to the query when they
    leave the pipeline (lost, probability lowered), so the query names them
    (``incremental.build_query``)."""
    if state is None or not _present(state):
        return []
    return [
        row[0]
        for row in state.db.execute(
            "SELECT record_id FROM pipeline WHERE status = 'open' AND record_id NOT IN "
            "(SELECT record_id FROM links) ORDER BY record_id"
        )
    ]


def counts(state: State) -> dict[str, int]:
    """Deals of the table by status (``status``)."""
    if not _present(state):
        return {}
    return dict(
        state.db.execute("SELECT status, COUNT(*) FROM pipeline GROUP BY status").fetchall()
    )


def row(state: State, record_id: str) -> dict[str, Any] | None:
    """One deal's row (``explain``), payload decoded."""
    if not _present(state):
        return None
    found = list(state.db["pipeline"].rows_where("record_id = ?", [record_id]))
    return dict(found[0], payload=loads(found[0]["payload"])) if found else None
