"""A copy of the state file (SQLite's backup API) is made before every schema migration."""

from __future__ import annotations

import sqlite3
import stat

from sync.state import State


def migrations_of(path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY name")]
    finally:
        conn.close()


def test_an_older_state_file_is_copied_before_it_is_migrated(tmp_path):
    path = tmp_path / "psa-sync.sqlite"
    state = State.open(path)  # new: nothing to copy
    state.set_meta("org_id", "00D000000000001AAA")
    state.close()
    assert list(tmp_path.glob("*.bak")) == []
    conn = sqlite3.connect(path)  # make it a state file of before m003
    with conn:
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm003_service'")
        conn.execute("DROP INDEX idx_runs_started_at")
        conn.execute("DROP INDEX idx_events_at")
        conn.execute("ALTER TABLE runs DROP COLUMN psa_calls")
    conn.close()

    State.open(path).close()
    copy = tmp_path / "psa-sync.sqlite.before-m003_service.bak"
    assert copy.exists() and stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert "m003_service" not in migrations_of(copy) and "m003_service" in migrations_of(path)
    conn = sqlite3.connect(copy)
    assert conn.execute("SELECT value FROM meta WHERE key = 'org_id'").fetchone() == ("00D000000000001AAA",)
    conn.close()
    State.open(path).close()  # up to date: no new copy
    assert list(tmp_path.glob("*.bak")) == [copy]
