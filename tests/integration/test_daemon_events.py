"""The daemon's event path in-process, against the emulator, a real Redmine and an in-process
Pub/Sub server: an event links a deal through the same page step, the replay id is committed with
that page, an echo costs no query and no run, and the poll slows to the safety poll while the stream
is healthy."""

from __future__ import annotations

import json
import os
import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from sync.config import load_settings
from sync.daemon import event_jobs, jobs
from sync.daemon.service import Daemon
from sync.state import State
from sync.state import events as stored
from tests.fixtures.daemon_support import wait_for
from tests.fixtures.exactly_once_support import Book, state_rows
from tests.fixtures.pubsub_fake import payload, serve

pytestmark = pytest.mark.integration
TOPIC = "/data/OpportunityChangeEvent"


@pytest.fixture
def pubsub(emulator, tmp_path):
    folder = tmp_path / "pubsub"
    folder.mkdir()
    server, fake, endpoint, _ = serve(folder, ca_from=emulator.tls.ca_file.parent)
    yield fake, endpoint
    server.stop(0)


def _daemon(harness, monkeypatch, endpoint) -> Daemon:
    harness.write_config(
        schedule={"interval": "30s"},
        events={"enabled": True, "pubsub_url": endpoint, "safety_poll": "1h"},
    )
    for name, value in harness.env().items():
        monkeypatch.setenv(name, value)
    daemon = Daemon(
        harness.config, load_settings(harness.config, os.environ), environ=dict(os.environ)
    )
    # back-off without its waits, but a real short pause while the main thread renews a token
    daemon.listener_options = {"sleep": lambda seconds: time.sleep(min(seconds, 0.05)) and False}
    return daemon


def _replay(harness) -> bytes | None:
    state = State.open(harness.state)
    try:
        saved = stored.replay(state, TOPIC)
        return saved.replay_id if saved else None
    finally:
        state.close()


def test_an_event_links_the_deal_it_names_and_commits_its_replay_id(
    harness, emulator, redmine, pubsub, monkeypatch
):
    fake, endpoint = pubsub
    daemon = _daemon(harness, monkeypatch, endpoint)
    jobs.sync_cycle(daemon)  # the first poll: a token, nothing to link yet
    hidden = Book(emulator, random.Random(5)).deal(
        _stamp=datetime.now(UTC) - timedelta(hours=3)
    )  # no poll sees it
    own = "com/salesforce/api/rest/62.0;client=psa-sync"
    fake.script.put(
        [
            (b"\x00\x00\x00\x11", payload([hidden], "UPDATE", changed=("StageName",))),
            (
                b"\x00\x00\x00\x18",
                payload(
                    [hidden],
                    "UPDATE",
                    origin=own,
                    changed=("PSA_Project_Id__c", "LastModifiedDate"),
                ),
            ),
        ]
    )
    try:
        wait_for(
            lambda: event_jobs.events_cycle(daemon) or _replay(harness) == b"\x00\x00\x00\x18",
            30,
            every=0.1,
            why="the events to be processed",
        )
    finally:
        daemon.event_path.stop()

    assert hidden in {row["record_id"] for row in state_rows(harness.state, "links")}
    runs = [row for row in state_rows(harness.state, "runs") if row["mode"] == "events"]
    assert all(row["exit_code"] == 0 for row in runs)
    # the deal was read once, by Id, for the first event;
    # the echo read nothing (the LATEST poll window: no rows)
    assert sum(json.loads(row["counts"]).get("extracted", 0) for row in runs) == 1
    state = State.open(harness.state)
    status = stored.stream_status(state)
    state.close()
    assert status["echoes"] == 1 and status["fallbacks"] == {"subscribed_latest": 1}
    assert daemon.event_path.healthy() and not daemon.poll_due(
        daemon.clock()
    )  # the safety poll's pace
    from prometheus_client import generate_latest

    from sync.ops.metrics.export import registry_of

    scraped = generate_latest(registry_of(daemon.settings)).decode()
    assert "psa_sync_events_received_total 2.0" in scraped
    assert 'psa_sync_events_fallbacks_total{reason="subscribed_latest"} 1.0' in scraped
    assert "psa_sync_events_lag_seconds_count 2.0" in scraped
    shown = harness.status()["stream"]
    assert (
        shown["events_today"] == 2
        and shown["replay"][TOPIC] is not None
        and shown["connected_since"]
    )


def test_a_stored_replay_id_is_where_the_next_daemon_subscribes(
    harness, emulator, redmine, pubsub, monkeypatch
):
    fake, endpoint = pubsub
    daemon = _daemon(harness, monkeypatch, endpoint)
    jobs.sync_cycle(daemon)
    state = State.open(harness.state)
    with state.transaction():
        stored.save_replay(
            state,
            TOPIC,
            b"\x00\x42",
            daemon.connections.client.org_id,
            daemon.connections.client.instance_url,
        )
    state.close()
    try:
        wait_for(lambda: event_jobs.events_cycle(daemon) or fake.subscribes, 30, why="a subscribe")
    finally:
        daemon.event_path.stop()
    assert (fake.subscribes[0].replay_preset, fake.subscribes[0].replay_id) == (
        2,
        b"\x00\x42",
    )  # CUSTOM


def _until(daemon, condition, why):
    try:
        wait_for(lambda: event_jobs.events_cycle(daemon) or condition(), 30, every=0.05, why=why)
    finally:
        daemon.event_path.stop()


def test_an_overflow_polls_a_window_at_once(harness, emulator, redmine, pubsub, monkeypatch):
    fake, endpoint = pubsub
    daemon = _daemon(harness, monkeypatch, endpoint)
    jobs.sync_cycle(daemon)
    state = State.open(harness.state)
    with state.transaction():  # a position: no LATEST poll at start, so only the overflow can poll
        stored.save_replay(
            state,
            TOPIC,
            b"\x00\x01",
            daemon.connections.client.org_id,
            daemon.connections.client.instance_url,
        )
    state.close()
    won = Book(emulator, random.Random(7)).deal()  # the poll would see it, but not for another hour
    fake.script.put([(b"\x00\x02", payload(["000000000000000AAA"], "GAP_OVERFLOW", changed=()))])
    _until(
        daemon,
        lambda: won in {r["record_id"] for r in state_rows(harness.state, "links")},
        "the overflow's poll window",
    )
    assert _replay(harness) == b"\x00\x02" and daemon.event_path.status["fallbacks"] == {
        "overflow": 1
    }
    assert harness.status()["stream"]["connected_since"]
    event_jobs.record_stopped(daemon)  # the daemon stops: status no longer says connected
    assert harness.status()["stream"]["connected_since"] is None
    assert "events    NOT connected" in harness.cli("status").stdout


def test_a_stored_replay_id_too_old_subscribes_from_latest_and_polls_at_once(
    harness, emulator, redmine, pubsub, monkeypatch
):
    import grpc

    from tests.fixtures.pubsub_fake import Abort

    fake, endpoint = pubsub
    daemon = _daemon(harness, monkeypatch, endpoint)
    jobs.sync_cycle(daemon)
    state = State.open(harness.state)
    with state.transaction():
        stored.save_replay(
            state,
            TOPIC,
            b"\x00\x01",
            daemon.connections.client.org_id,
            daemon.connections.client.instance_url,
        )
    state.close()
    won = Book(emulator, random.Random(8)).deal()
    fake.script.put(
        [
            Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted",
            )
        ]
    )
    _until(
        daemon,
        lambda: won in {r["record_id"] for r in state_rows(harness.state, "links")},
        "the poll window after LATEST",
    )
    assert [s.replay_preset for s in fake.subscribes] == [2, 0]  # CUSTOM, then LATEST once: no loop
    assert daemon.event_path.status["fallbacks"] == {"replay_too_old": 1, "subscribed_latest": 1}


def test_an_expired_token_is_renewed_and_the_stream_resumes_where_it_was(
    harness, emulator, redmine, pubsub, monkeypatch
):
    import grpc

    from tests.fixtures.pubsub_fake import Abort

    fake, endpoint = pubsub
    daemon = _daemon(harness, monkeypatch, endpoint)
    jobs.sync_cycle(daemon)
    client = daemon.connections.client
    renewed = []
    original = client.refresh_token
    monkeypatch.setattr(client, "refresh_token", lambda: renewed.append(1) or original())
    fake.script.put(
        [
            (b"\x00\x05", payload(["006000000000000001"], "DELETE")),
            Abort(
                grpc.StatusCode.UNAUTHENTICATED, "sfdc.platform.eventbus.grpc.service.auth.error"
            ),
        ]
    )
    _until(daemon, lambda: len(fake.subscribes) >= 2 and renewed, "a new token and a new subscribe")
    assert (fake.subscribes[1].replay_preset, fake.subscribes[1].replay_id) == (2, b"\x00\x05")
    assert fake.metadata[1]["accesstoken"] == client.grant.access_token


def test_against_the_emulators_pubsub_a_win_is_linked_by_its_event_and_the_write_back_echo_skipped(
    harness, emulator, redmine, monkeypatch
):
    daemon = _daemon(harness, monkeypatch, emulator.pubsub_endpoint)
    jobs.sync_cycle(daemon)
    try:
        wait_for(
            lambda: (
                event_jobs.events_cycle(daemon)
                or (
                    emulator.pubsub_snapshot().get("streams_opened", 0) >= 1
                    and daemon.event_path.connected
                    and not daemon.event_path.pending.needs_cycle
                    and any(r["mode"] == "events" for r in state_rows(harness.state, "runs"))
                )
            ),
            30,
            every=0.05,
            why="the stream subscribed from LATEST and its poll window run",
        )
        calls = emulator.calls_snapshot()
        won = Book(emulator, random.Random(9)).deal()
        wait_for(
            lambda: event_jobs.events_cycle(daemon) or daemon.event_path.status["echoes"] >= 1,
            30,
            every=0.05,
            why="the win's event, its project, its write-back and the write-back's echo",
        )
    finally:
        daemon.event_path.stop()
    assert won in {r["record_id"] for r in state_rows(harness.state, "links")}
    after = emulator.calls_snapshot()
    queries = sum(after.get(k, 0) - calls.get(k, 0) for k in ("queryAll", "query"))
    assert queries == 1  # the win read once by Id; the echo of the write-back read nothing
