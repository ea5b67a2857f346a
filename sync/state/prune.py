"""The queries of retention: which old runs and events may go, a batch at a time, and when a VACUUM
is worth it. Kept apart from the store: nothing else deletes history.

What stays (README "Retention"): every run started within ``retention.runs``, a run still
``running``, and the last successful run whatever its age (``status --check`` must be able to say
how long ago that was); every event within ``retention.events``, and every event of a deal that
still has a link or a quarantine entry, whatever its age: the audit trail ``explain`` shows.
"""

from __future__ import annotations

from sync.state.store import State

VACUUM_SHARE = 0.25  # free pages above this share of the file: a VACUUM gives the space back
VACUUM_MIN_BYTES = 1 << 20  # below 1 MiB of free pages it is not worth an exclusive lock


def old_runs(state: State, before: str, limit: int) -> int:
    """Delete up to ``limit`` runs started before ``before`` (ISO UTC); how many went."""
    return state.db.execute(
        "DELETE FROM runs WHERE id IN (SELECT id FROM runs "
        "WHERE started_at < ? AND status != 'running' "
        "AND id != COALESCE((SELECT id FROM runs WHERE mode = 'run' AND exit_code IN (0, 1) "
        "ORDER BY finished_at DESC LIMIT 1), 0) "
        "ORDER BY id LIMIT ?)",
        [before, limit],
    ).rowcount


def old_events(state: State, before: str, limit: int) -> int:
    """Delete up to ``limit`` events older than ``before`` of no linked or quarantined deal."""
    return state.db.execute(
        "DELETE FROM events WHERE id IN (SELECT id FROM events "
        "WHERE at < ? AND (record_id IS NULL OR ("
        "record_id NOT IN (SELECT record_id FROM links) AND "
        "record_id NOT IN (SELECT record_id FROM quarantine))) ORDER BY id LIMIT ?)",
        [before, limit],
    ).rowcount


def vacuum_due(state: State) -> bool:
    pages, free, size = (
        state.db.execute(f"PRAGMA {p}").fetchone()[0]
        for p in ("page_count", "freelist_count", "page_size")
    )
    return pages > 0 and free * size >= VACUUM_MIN_BYTES and free / pages >= VACUUM_SHARE


def vacuum(state: State) -> None:
    state.db.execute("VACUUM")
