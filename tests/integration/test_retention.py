"""Retention through the real CLI: after 10,000 synthetic runs the state file holds what the policy
keeps, and `explain` of a linked deal still shows its creation."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures.exactly_once_support import Book, state_rows

pytestmark = pytest.mark.integration

RUNS = 10_000
DAYS = 400  # the synthetic history spans more than both limits (runs 30 d, events 365 d)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def test_ten_thousand_runs_are_pruned_to_the_policy_and_the_audit_trail_stays(
    harness, emulator, redmine
):
    book = Book(emulator, random.Random(9))
    book.seed(won=2)
    harness.write_config(retention={"runs": "30d", "events": "365d"})
    harness.run()
    linked = sorted(r["record_id"] for r in state_rows(harness.state, "links"))
    assert len(linked) == 2
    now = datetime.now(UTC)
    old = stamp(now - timedelta(days=500))
    gone, quarantined = "006000000000GONEAAA", "006000000000QUARAAA"

    conn = sqlite3.connect(harness.state)
    with conn:
        # The real creation events become 500 days old: older than retention.events,
        # kept as the audit trail.
        conn.execute("UPDATE events SET at = ?", [old])
        conn.execute(
            "INSERT INTO quarantine (record_id, stage, error, payload, first_seen, last_seen, "
            "attempts, run_id) VALUES (?, 'transform', 'no billing type', '{}', ?, ?, 1, 1)",
            [quarantined, old, old],
        )
        step = timedelta(days=DAYS) / RUNS
        conn.executemany(  # oldest first, as a daemon would have made them
            "INSERT INTO runs "
            "(mode, started_at, finished_at, status, exit_code, counts, api_calls, org_usage) "
            "VALUES ('run', ?, ?, 'ok', 0, '{}', '{\"queryAll\": 1}', "
            '\'{"used": 1, "max": 100}\')',
            [(stamp(now - step * i), stamp(now - step * i)) for i in reversed(range(RUNS))],
        )
        events = []
        for i in range(RUNS):
            at = stamp(now - step * i)
            events.append((i, None, "cycle", "ok", at))  # a run-level event
            events.append((i, gone if i % 2 else quarantined, "transform", "quarantined", at))
        conn.executemany(
            "INSERT INTO events (run_id, record_id, action, outcome, detail, at) "
            "VALUES (?, ?, ?, ?, 'null', ?)",
            events,
        )
    conn.close()
    before = {t: len(state_rows(harness.state, t)) for t in ("runs", "events")}

    done = harness.cli("prune")
    assert done.returncode == 0, done.stderr
    assert "runs and" in done.stdout and "events removed" in done.stdout

    runs_left = state_rows(harness.state, "runs")
    runs_cut, events_cut = stamp(now - timedelta(days=30)), stamp(now - timedelta(days=365))
    assert all(r["started_at"] >= runs_cut for r in runs_left)
    expected_runs = (
        sum(1 for i in range(RUNS) if stamp(now - step * i) >= runs_cut) + 1
    )  # + the real run
    assert len(runs_left) == pytest.approx(expected_runs, abs=2)
    events_left = state_rows(harness.state, "events")
    for event in events_left:
        assert event["at"] >= events_cut or event["record_id"] in (*linked, quarantined), event
    assert not [e for e in events_left if e["record_id"] == gone and e["at"] < events_cut]
    assert (
        len([e for e in events_left if e["record_id"] == quarantined]) == RUNS // 2
    )  # all its trail
    assert len(events_left) < before["events"] and len(runs_left) < before["runs"] // 10

    for deal in linked:
        trail = harness.explain(deal)["events"]
        assert [(e["action"], e["outcome"]) for e in trail][:1] == [("create", "created")], (
            json.dumps(trail)[:500]
        )
    assert harness.status()["runs"][0]["status"] == "ok"
    assert (
        harness.cli("status", "--check", "--max-quarantine", "1").returncode == 0
    )  # the synthetic one
    print(
        f"retention: {before} → runs {len(runs_left)}, events {len(events_left)}; "
        f"{done.stdout.strip()}"
    )
