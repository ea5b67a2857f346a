"""The daemon's jobs on their own schedule: a scheduled reconcile (report, or repair), the nightly
retention, and the scheduler that holds them — run in-process against the emulator and a real
Redmine."""

from __future__ import annotations

import os
import random
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from sync.config import load_settings
from sync.daemon import jobs
from sync.daemon.service import Daemon
from tests.fixtures.exactly_once_support import Book, state_rows

pytestmark = pytest.mark.integration


def daemon_of(harness, monkeypatch, **overrides) -> Daemon:
    harness.write_config(**overrides)
    for name, value in harness.env().items():
        monkeypatch.setenv(name, value)
    return Daemon(
        harness.config, load_settings(harness.config, os.environ), environ=dict(os.environ)
    )


def test_the_scheduler_holds_the_sync_the_reconcile_and_the_retention_jobs(
    harness, emulator, redmine, monkeypatch
):
    daemon = daemon_of(
        harness,
        monkeypatch,
        schedule={"interval": "30s", "reconcile": "sun 03:00"},
        retention={"runs": "30d", "events": "365d", "at": "02:15"},
    )
    scheduler = daemon._scheduler()
    by_id = {job.id: job for job in scheduler.get_jobs()}
    assert set(by_id) == {"sync", "reconcile", "retention"}
    assert "day_of_week='sun'" in str(by_id["reconcile"].trigger) and "hour='3'" in str(
        by_id["reconcile"].trigger
    )
    assert "hour='2'" in str(by_id["retention"].trigger) and "minute='15'" in str(
        by_id["retention"].trigger
    )

    without = daemon_of(harness, monkeypatch, schedule={"interval": "30s"})._scheduler()
    assert {job.id for job in without.get_jobs()} == {
        "sync",
        "retention",
    }  # no reconcile unless asked


def test_a_scheduled_reconcile_repairs_with_the_daemons_clients_and_never_ends_the_daemon(
    harness, emulator, redmine, monkeypatch
):
    book = Book(emulator, random.Random(12))
    book.seed(won=3)
    harness.run()
    missed = book.deal(
        _stamp=datetime.now(UTC) - timedelta(hours=2)
    )  # behind the watermark: only a sweep sees it
    daemon = daemon_of(
        harness,
        monkeypatch,
        schedule={"interval": "30s", "reconcile": "sun 03:00", "reconcile_repair": True},
    )

    jobs.reconcile(daemon)

    assert not daemon.stopping and daemon.exit_code == 0
    [row] = [r for r in state_rows(harness.state, "runs") if r["mode"] == "reconcile"]
    assert (row["status"], row["exit_code"]) == ("ok", 0)  # the drift it found, repaired
    assert missed in {link["record_id"] for link in state_rows(harness.state, "links")}


def test_the_nightly_retention_prunes_what_the_policy_no_longer_keeps(
    harness, emulator, redmine, monkeypatch
):
    Book(emulator, random.Random(13)).seed(won=2)
    harness.run()
    old = (datetime.now(UTC) - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with sqlite3.connect(harness.state) as db:
        db.executemany(
            "INSERT INTO runs (mode, started_at, finished_at, status, exit_code) VALUES "
            "('run', ?, ?, 'ok', 0)",
            [(old, old)] * 50,
        )
    daemon = daemon_of(
        harness,
        monkeypatch,
        schedule={"interval": "30s"},
        retention={"runs": "30d", "events": "365d"},
    )

    jobs.retention(daemon)

    runs = state_rows(harness.state, "runs")
    assert (
        len(runs) == 1 and runs[0]["started_at"] > old
    )  # the 50 old runs went; the real one stays
    assert len(state_rows(harness.state, "links")) == 2
