"""The ``structures`` and ``children`` tables (migration m007): a project's plan, child by child.

The load stage is the one writer (:mod:`sync.load.children`); ``explain``, ``forecast --by role``
and the back-sync of progress read. Every write here is one statement over a whole batch
(``executemany``) inside the caller's transaction, so a project's plan costs a few commits, not one
per child. A child row is an *intent* while ``child_id`` is null: a crash between the intent and the
link leaves it, and the next run looks its key up in the PSA before creating anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sync.common.clock import iso, utcnow
from sync.common.structure import Child, ChildKind
from sync.connectors.psa.structure import ChildRef
from sync.state.store import State

CHUNK = 500  # Ids in one IN (…)

INTENT, LINKED, FLAGGED, GONE = "intent", "linked", "flagged", "gone"


@dataclass(frozen=True)
class ChildRow:
    """One child as the state file keeps it."""

    key: str
    record_id: str
    project_id: int
    kind: ChildKind
    child_id: int | None  # None: an intent (created, maybe, but not confirmed)
    status: (
        str  # intent | linked | flagged (its line item left the deal) | gone (deleted in the PSA)
    )
    name: str
    phase: str | None
    hours: Decimal | None
    role: str | None
    start: date | None
    due: date | None
    line_item: str | None
    quantity: Decimal | None
    note: str | None = None  # why it was flagged, or what the PSA made differently


def _row(raw: dict) -> ChildRow:
    def day(text):
        return date.fromisoformat(text) if text else None

    def number(text):
        return Decimal(text) if text not in (None, "") else None

    return ChildRow(
        raw["key"],
        raw["record_id"],
        raw["project_id"],
        ChildKind(raw["kind"]),
        raw["child_id"],
        raw["status"],
        raw["name"] or "",
        raw["phase"],
        number(raw["hours"]),
        raw["role"],
        day(raw["start"]),
        day(raw["due"]),
        raw["line_item"],
        number(raw["quantity"]),
        raw["note"],
    )


def _present(state: State) -> bool:
    return "children" in state.db.table_names()  # a file older than m007, opened read-only


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    ids = list(dict.fromkeys(ids))
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def plan(state: State, plans: Iterable[tuple[str, str | None]], run_id: int) -> None:
    """Mark deals whose project gets a plan (before it is created); a mark already made stays."""
    state.db.conn.executemany(
        "INSERT OR IGNORE INTO structures (record_id, template, state, run_id, at) "
        "VALUES (?, ?, 'planned', ?, ?)",
        [(record_id, template, run_id, iso(utcnow())) for record_id, template in plans],
    )


def planned(state: State, record_ids: Sequence[str]) -> dict[str, str]:
    """record → its plan's state (``planned`` or ``complete``) for the deals that have one."""
    if not _present(state):
        return {}
    out: dict[str, str] = {}
    for chunk in _chunks(record_ids):
        marks = ",".join("?" * len(chunk))
        out.update(
            state.db.execute(
                f"SELECT record_id, state FROM structures WHERE record_id IN ({marks})", chunk
            ).fetchall()
        )
    return out


def complete(state: State, record_ids: Iterable[str]) -> None:
    state.db.conn.executemany(
        "UPDATE structures SET state = 'complete' WHERE record_id = ?", [(r,) for r in record_ids]
    )


def children_of(state: State, record_ids: Sequence[str]) -> dict[str, dict[str, ChildRow]]:
    """record → key → its child rows (intents included), one query per 500 deals."""
    out: dict[str, dict[str, ChildRow]] = {}
    if not _present(state):
        return out
    for chunk in _chunks(record_ids):
        marks = ",".join("?" * len(chunk))
        for raw in state.db.query(
            f"SELECT * FROM children WHERE record_id IN ({marks}) ORDER BY rowid", chunk
        ):
            row = _row(raw)
            out.setdefault(row.record_id, {})[row.key] = row
    return out


def _text(value) -> str | None:
    return None if value is None else str(value)


def add_intents(
    state: State, record_id: str, project_id: int, children: Sequence[Child], run_id: int
) -> None:
    """Intents for children about to be created (one statement); an existing row is left alone."""
    now = iso(utcnow())
    state.db.conn.executemany(
        "INSERT OR IGNORE INTO children (key, record_id, project_id, kind, child_id, status, "
        "name, phase, hours, role, start, due, line_item, quantity, note, run_id, updated_at) "
        "VALUES (?, ?, ?, ?, NULL, 'intent', ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
        [
            (
                c.key,
                record_id,
                project_id,
                c.kind.value,
                c.name,
                c.phase,
                _text(c.hours),
                c.role,
                _text(c.start),
                _text(c.due),
                c.line_item.line_item_id if c.line_item else None,
                _text(c.line_item.quantity) if c.line_item else None,
                run_id,
                now,
            )
            for c in children
        ],
    )


def link(state: State, refs: Sequence[ChildRef], run_id: int) -> None:
    """The children the PSA confirmed (created or found by key): their ids, in one statement."""
    now = iso(utcnow())
    state.db.conn.executemany(
        "UPDATE children SET child_id = ?, status = 'linked', project_id = ?, run_id = ?, "
        "updated_at = ? WHERE key = ?",
        [(r.id, r.project_id, run_id, now, r.key) for r in refs],
    )


def drop(state: State, keys: Iterable[str]) -> None:
    """Intents the PSA refused: gone, so the next try starts clean."""
    state.db.conn.executemany(
        "DELETE FROM children WHERE key = ? AND child_id IS NULL", [(k,) for k in keys]
    )


def mark(state: State, keys: Iterable[str], status: str, note: str | None = None) -> None:
    now = iso(utcnow())
    state.db.conn.executemany(
        "UPDATE children SET status = ?, note = ?, updated_at = ? WHERE key = ?",
        [(status, note, now, k) for k in keys],
    )


def set_hours(state: State, changes: Iterable[tuple[str, Decimal, Decimal | None]]) -> None:
    """A task whose estimate followed its line item: (key, hours, quantity)."""
    now = iso(utcnow())
    state.db.conn.executemany(
        "UPDATE children SET hours = ?, quantity = ?, updated_at = ? WHERE key = ?",
        [(str(h), _text(q), now, k) for k, h, q in changes],
    )


def forget(state: State, keys: Iterable[str], record_ids: Iterable[str]) -> None:
    """Children gone from the PSA (``reconcile --repair``): their rows go and their deals' plans
    reopen, so the next pass makes them again."""
    state.db.conn.executemany("DELETE FROM children WHERE key = ?", [(k,) for k in keys])
    state.db.conn.executemany(
        "UPDATE structures SET state = 'planned' WHERE record_id = ?", [(r,) for r in record_ids]
    )


def all_children(state: State) -> list[ChildRow]:
    """Every linked child (the forecast by role, the back-sync of progress)."""
    if not _present(state):
        return []
    return [
        _row(raw)
        for raw in state.db.query(
            "SELECT * FROM children WHERE child_id IS NOT NULL ORDER BY rowid"
        )
    ]
