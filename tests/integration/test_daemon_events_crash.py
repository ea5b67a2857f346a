"""Exactly once under SIGKILL with events flowing: the daemon killed inside the events cycle
(between a project's create and its link commit) or after the page with its replay id committed,
then started again and sent every event once more (at-least-once delivery): one project per deal,
nothing doubled."""

from __future__ import annotations

import json
import random
import signal
from datetime import UTC, datetime, timedelta

import pytest

from sync.state import State
from sync.state import events as stored
from tests.fixtures.daemon_support import DaemonProcess, wait_for
from tests.fixtures.exactly_once_support import Book, assert_exactly_once, state_rows
from tests.fixtures.pubsub_fake import payload, serve

pytestmark = pytest.mark.integration
TOPIC = "/data/OpportunityChangeEvent"
KILLED = -signal.SIGKILL


@pytest.fixture
def pubsub(emulator, tmp_path):
    folder = tmp_path / "pubsub"
    folder.mkdir()
    server, fake, endpoint, _ = serve(folder, ca_from=emulator.tls.ca_file.parent)
    yield fake, endpoint
    server.stop(0)


def _replay(harness) -> bytes | None:
    state = State.open_readonly(harness.state)
    try:
        saved = stored.replay(state, TOPIC) if state is not None else None
        return saved.replay_id if saved else None
    finally:
        if state is not None:
            state.close()


def _created(harness) -> int:
    return sum(row["project_id"] is not None for row in state_rows(harness.state, "links"))


@pytest.mark.parametrize("kill", ["inside-the-events-cycle", "after-the-replay-id-committed"])
def test_sigkill_with_events_flowing_loses_and_doubles_nothing(
    harness, emulator, redmine, pubsub, kill
):
    fake, endpoint = pubsub
    harness.write_config(
        schedule={"interval": "30s"},
        events={"enabled": True, "pubsub_url": endpoint, "safety_poll": "1h"},
    )
    # the watermark is now: the deals below are older, so only their events bring them
    harness.run()
    book = Book(emulator, random.Random(24))
    deals = [book.deal(_stamp=datetime.now(UTC) - timedelta(hours=3)) for _ in range(3)]
    log = [(bytes([0, 0, 0, 10 + i]), payload([deal], "UPDATE")) for i, deal in enumerate(deals)]
    for _ in range(6):  # every subscribe gets every event again: at-least-once, the worst case
        fake.script.put(list(log))

    if kill == "inside-the-events-cycle":
        harness.extra_env["PSA_SYNC_CRASH_AT"] = (
            "after-create:2"  # the 2nd create's 201, its link not committed
        )
    first = DaemonProcess.start(harness, log_name="daemon-1.log")
    try:
        if kill == "inside-the-events-cycle":
            assert first.proc.wait(timeout=120) == KILLED, first.text()
            assert _replay(harness) is None  # the page never committed: nor did its replay id
        else:
            wait_for(
                lambda: _replay(harness) == log[-1][0], 120, why="the replay id to be committed"
            )
            first.proc.send_signal(signal.SIGKILL)
            assert first.proc.wait(timeout=30) == KILLED
            assert _created(harness) == 3
    finally:
        harness.extra_env.pop("PSA_SYNC_CRASH_AT", None)
        if first.proc.poll() is None:
            first.proc.kill()

    before = max(row["id"] for row in state_rows(harness.state, "runs"))
    second = DaemonProcess.start(harness, log_name="daemon-2.log")
    try:
        wait_for(
            lambda: (
                _replay(harness) == log[-1][0]
                and _created(harness) == 3
                and not state_rows(harness.state, "outbox")
                and not state_rows(harness.state, "intents")
                and any(
                    r["id"] > before and r["mode"] == "events" and r["finished_at"]
                    for r in state_rows(harness.state, "runs")
                )
            ),
            120,
            why="the replayed events to be processed",
        )
    finally:
        code, _ = second.stop()
    assert code == 0, second.text()
    assert_exactly_once(harness)
    later = [
        json.loads(r["counts"] or "{}")
        for r in state_rows(harness.state, "runs")
        if r["id"] > before
    ]
    created = sum(c.get("created", 0) for c in later)
    if kill == "after-the-replay-id-committed":
        assert (
            created == 0
        )  # the events came again; the deals were read again; nothing was made twice
    else:  # the 2nd project existed in Redmine without its link: found by its key, not made again
        assert "linked" in {
            e["outcome"] for e in state_rows(harness.state, "events") if e["action"] == "recover"
        }
