"""Issue 24 end to end on the emulator's own Pub/Sub server and a real Redmine: a line item amended
in Salesforce reaches the project's plan through its change event (the same page step, no poll), and
``status`` shows the events today against the allocation the daemon read from ``/limits``."""

from __future__ import annotations

import json
import os
import time

import pytest

from sync.config import load_settings
from sync.daemon import event_jobs, jobs
from sync.daemon.service import Daemon
from sync.orchestrator import stages
from sync.state import State
from sync.state import events as stored
from tests.fixtures.daemon_support import wait_for
from tests.fixtures.exactly_once_support import state_rows
from tests.fixtures.redmine import issues
from tests.fixtures.structure import sold, use_example_structure

pytestmark = pytest.mark.integration
LINES = "/data/OpportunityLineItemChangeEvent"


def _daemon(harness, tmp_path, emulator, monkeypatch) -> Daemon:
    use_example_structure(
        harness,
        tmp_path,
        schedule={"interval": "30s"},
        events={
            "enabled": True,
            "pubsub_url": emulator.pubsub_endpoint,
            "line_items_topic": LINES,
            "safety_poll": "1h",
        },
    )
    for name, value in harness.env().items():
        monkeypatch.setenv(name, value)
    daemon = Daemon(
        harness.config, load_settings(harness.config, os.environ), environ=dict(os.environ)
    )
    daemon.listener_options = {"sleep": lambda seconds: time.sleep(min(seconds, 0.05)) and False}
    return daemon


def _replay(harness, topic: str) -> bytes | None:
    state = State.open(harness.state)
    try:
        saved = stored.replay(state, topic)
        return saved.replay_id if saved else None
    finally:
        state.close()


def _settled(daemon) -> bool:
    """Both streams up and the first subscription's poll window (LATEST) done."""
    event_jobs.events_cycle(daemon)
    path = daemon.event_path
    return (
        path.started
        and len(path.connected) == len(path.topics)
        and not path.pending.needs_cycle
        and path.queue.empty()
    )


def test_an_amended_line_item_moves_its_task_through_its_event_without_a_poll(
    harness, emulator, redmine, monkeypatch, tmp_path
):
    daemon = _daemon(harness, tmp_path, emulator, monkeypatch)
    deal, _, lines = sold(emulator)
    key = f"{deal}/li:{lines['CONS-DAY']}"
    try:
        jobs.sync_cycle(daemon)  # the first poll: the project and its plan
        [project] = redmine.projects()
        assert issues(redmine, project["id"])[key]["estimated_hours"] == 80.0
        wait_for(lambda: _settled(daemon), 30, every=0.1, why="the streams to be up")
        polls = []
        monkeypatch.setattr(stages, "sync_changes", lambda run: polls.append(run))
        before = _replay(harness, LINES)
        emulator.reset_calls()
        # hours_from: Estimated_Hours__c, a field that does not re-save the deal: only the line
        # item's own event can bring this change before the safety poll
        emulator.update("OpportunityLineItem", lines["CONS-DAY"], Estimated_Hours__c=100)
        wait_for(
            lambda: event_jobs.events_cycle(daemon) or _replay(harness, LINES) != before,
            30,
            every=0.1,
            why="the line item's event to be processed",
        )
    finally:
        daemon.event_path.stop()

    assert issues(redmine, project["id"])[key]["estimated_hours"] == 100.0
    assert polls == []  # no poll window: the event named the line item, the line item its deal
    # one query for the line item's deal, one for the deal by Id with its line items; nothing else
    assert emulator.calls_snapshot() == {"query": 1, "queryAll": 1}
    last = state_rows(harness.state, "runs")[-1]
    assert (last["mode"], last["exit_code"]) == ("events", 0)


def test_a_line_item_added_becomes_a_task_through_the_events_without_a_poll(
    harness, emulator, redmine, monkeypatch, tmp_path
):
    daemon = _daemon(harness, tmp_path, emulator, monkeypatch)
    deal, entries, _ = sold(emulator)
    try:
        jobs.sync_cycle(daemon)
        [project] = redmine.projects()
        wait_for(lambda: _settled(daemon), 30, every=0.1, why="the streams to be up")
        polls = []
        monkeypatch.setattr(stages, "sync_changes", lambda run: polls.append(run))
        before = _replay(harness, LINES)
        # a line added re-saves its deal: two events (the deal's, the line's), one deal read again
        extra = emulator.add_line_item(deal, entries["TRAIN-DAY"], quantity=1)
        wait_for(
            lambda: event_jobs.events_cycle(daemon) or _replay(harness, LINES) != before,
            30,
            every=0.1,
            why="the new line item's event to be processed",
        )
    finally:
        daemon.event_path.stop()

    task = issues(redmine, project["id"]).get(f"{deal}/li:{extra}")
    assert task is not None and task["estimated_hours"] == 7.0  # 1 training day, as the poll's
    assert polls == []


def test_status_shows_the_events_today_against_the_allocation_read_with_the_poll(
    harness, emulator, redmine, monkeypatch, tmp_path
):
    emulator.configure_pubsub(delivery_limit=25_000)
    daemon = _daemon(harness, tmp_path, emulator, monkeypatch)
    emulator.reset_calls()
    try:
        jobs.sync_cycle(daemon)
        assert emulator.calls_snapshot().get("limits") == 1  # read inside the poll's run
        jobs.sync_cycle(daemon)  # not due again before a safety poll: no second read
        assert emulator.calls_snapshot().get("limits") == 1
    finally:
        if daemon.event_path is not None:
            daemon.event_path.stop()
    first, second = state_rows(harness.state, "runs")
    # the call is counted on the run's row
    assert (json.loads(first["api_calls"]).get("limits"), json.loads(second["api_calls"])) == (
        1,
        {"queryAll": 2},
    )
    shown = harness.status()["stream"]["allocation"]
    assert (shown["max"], shown["remaining"], shown["source"]) == (25_000, 25_000, "limits")
    text = harness.cli("status").stdout
    assert "events today 0 of the allocation 25000 (25000 remaining at " in text
    from prometheus_client import generate_latest

    from sync.ops.metrics.export import registry_of

    scraped = generate_latest(registry_of(daemon.settings)).decode()
    assert "psa_sync_events_allocation_max 25000.0" in scraped
    assert "psa_sync_events_allocation_remaining 25000.0" in scraped
