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
    assert conn.execute("SELECT value FROM meta WHERE key = 'org_id'").fetchone() == (
        "00D000000000001AAA",
    )
    conn.close()
    State.open(path).close()  # up to date: no new copy
    assert list(tmp_path.glob("*.bak")) == [copy]


RECORD = "006000000000001AAA"


def v5_state_file(path) -> None:
    """A state file as psa-sync wrote it before m006: record-keyed tables have opportunity_id."""
    from sync.state.migrations import RECORD_TABLES

    State.open(path).close()
    conn = sqlite3.connect(path)
    with conn:
        for table in RECORD_TABLES:
            conn.execute(f"ALTER TABLE {table} RENAME COLUMN record_id TO opportunity_id")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm006_record_id'")
        conn.execute(
            "INSERT INTO links (opportunity_id, key, project_id, project_identifier, project_url, "
            "payload_hash, payload, written, backsync, link_state, sf_status, closed_by, pending, "
            "kept_psa, mapping, created_at, updated_at) "
            "VALUES (?, ?, 7, 'sf-1', 'http://r/7', 'h', '{}', '{}', '{}', "
            "'active', 'Won', NULL, '{}', '[]', 'fp', 't', 't')",
            [RECORD, RECORD],
        )
        conn.execute(
            "INSERT INTO quarantine "
            "(opportunity_id, stage, error, payload, first_seen, last_seen, attempts, run_id) "
            "VALUES (?, 'load', 'refused', 'null', 't', 't', 1, 1)",
            [RECORD],
        )
        conn.execute(
            "INSERT INTO outbox (opportunity_id, field, value, attempts, updated_at) "
            "VALUES (?, 'PSA_Project_Id__c', '\"7\"', 0, 't')",
            [RECORD],
        )
        conn.execute(
            "INSERT INTO events (run_id, opportunity_id, action, outcome, at) "
            "VALUES (1, ?, 'create', 'created', 't')",
            [RECORD],
        )
    conn.close()


def columns(path, table: str) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
    finally:
        conn.close()


def test_a_v5_state_file_reads_before_and_migrates_to_record_id_with_a_backup_first(tmp_path):
    path = tmp_path / "psa-sync.sqlite"
    v5_state_file(path)

    before = State.open_readonly(
        path
    )  # status on a file an older psa-sync wrote: read as if migrated
    try:
        assert set(before.links([RECORD])) == {RECORD} and before.retry_ids() == [RECORD]
        assert before.counts()["outbox"] == 1 and [
            e["record_id"] for e in before.events(RECORD)
        ] == [RECORD]
    finally:
        before.close()
    assert "opportunity_id" in columns(path, "links")  # reading changed nothing

    state = State.open(path)
    try:
        assert state.links([RECORD])[RECORD].project_id == 7
        assert state.outbox() == {RECORD: {"PSA_Project_Id__c": "7"}}
        assert [q["record_id"] for q in state.quarantined()] == [RECORD]
    finally:
        state.close()
    for table in ("links", "intents", "outbox", "quarantine", "events", "ignored", "pipeline"):
        assert "record_id" in columns(path, table) and "opportunity_id" not in columns(
            path, table
        ), table
    copy = tmp_path / "psa-sync.sqlite.before-m006_record_id.bak"
    assert copy.exists() and "opportunity_id" in columns(copy, "links")
    assert "m006_record_id" in migrations_of(path) and "m006_record_id" not in migrations_of(copy)
