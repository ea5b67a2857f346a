"""The daemon's view of its stream, on an injected clock: healthy or not, the poll's pace, the
watchdog, and what status records of faults and fallbacks."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from sync.config.settings import Events
from sync.daemon.events import FOLLOW_UP, FOLLOW_UP_SECONDS, EventPath
from sync.daemon.service import Daemon
from sync.events.client import Fault
from sync.events.headers import Header
from sync.events.listener import Down, Keepalive, Notice, Up

TOPIC = "/data/OpportunityChangeEvent"


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Restartable:
    def __init__(self):
        self.restarts = 0

    def restart(self):
        self.restarts += 1


def _path(clock) -> EventPath:
    settings = SimpleNamespace(
        events=Events(
            enabled=True, safety_poll=timedelta(hours=1), stale_after=timedelta(minutes=10)
        ),
        salesforce=SimpleNamespace(ca_bundle=None),
    )
    mapping = SimpleNamespace(writeback={"psa_project_id__c": "project.id"}, backsync={})
    path = EventPath(settings, mapping, clock=clock)
    path.listeners = [Restartable()]
    return path


def _daemon(path, last_poll):
    return SimpleNamespace(
        event_path=path, last_poll=last_poll, settings=SimpleNamespace(events=path.events)
    )


def test_the_poll_slows_to_the_safety_poll_while_healthy_and_comes_back_at_once():
    clock = Clock()
    path = _path(clock)
    daemon = _daemon(path, last_poll=clock.now)
    assert Daemon.poll_due(daemon, clock.now + 30)  # not connected yet: every schedule.interval
    path.queue.put(Up(TOPIC, clock.now, latest=False))
    path.queue.put(Keepalive(TOPIC, b"\x01"))
    path.drain()
    assert path.healthy() and not Daemon.poll_due(daemon, clock.now + 30)
    assert Daemon.poll_due(daemon, clock.now + 3600)  # the safety poll
    path.queue.put(Down(TOPIC, Fault.DROPPED, "UNAVAILABLE", clock.now, 1.0))
    path.drain()
    assert not path.healthy() and Daemon.poll_due(
        daemon, clock.now + 30
    )  # dropped: the interval again
    assert path.status["reconnects"] == 1 and path.status["fallbacks"] == {"dropped": 1}


def test_a_silent_stream_is_unhealthy_and_restarted_once_per_stale_period():
    clock = Clock()
    path = _path(clock)
    path.queue.put(Up(TOPIC, clock.now, latest=False))
    path.queue.put(Keepalive(TOPIC, b"\x01"))
    path.drain()
    clock.now += 9 * 60
    path.watchdog()
    assert path.healthy() and path.listeners[0].restarts == 0
    clock.now += 2 * 60
    assert not path.healthy()
    path.watchdog()
    path.watchdog()
    assert path.listeners[0].restarts == 1 and path.status["fallbacks"] == {"stale": 1}


def test_faults_only_a_person_can_fix_turn_events_off_and_say_so(caplog):
    clock = Clock()
    path = _path(clock)
    path.queue.put(
        Down(TOPIC, Fault.CONFIG, "NOT_FOUND topic.not.found: no such topic", clock.now, None)
    )
    path.drain()
    assert path.gave_up and not path.healthy()
    assert "events are off until this is fixed" in caplog.text and "topic.not.found" in caplog.text
    assert path.status["last_fault"]["fault"] == "config"


def test_events_count_today_and_their_lag_lands_in_its_bucket():
    clock = Clock()
    path = _path(clock)
    header = Header(
        "Opportunity",
        ("006A",),
        "UPDATE",
        "",
        int((clock.now - 0.3) * 1000),
        frozenset({"StageName"}),
    )
    path.queue.put(Notice(TOPIC, b"\x02", header, clock.now))
    work = path.drain()
    assert work.deal_ids == {"006A"} and path.status["events_total"] == 1
    assert path.status["lag_buckets"][2] == 1  # 0.3 s: the ≤ 0.5 s bucket
    assert list(path.status["events_today"].values()) == [1]


def test_work_of_a_failed_cycle_waits_for_the_next_drain_and_is_gone_once_done():
    clock = Clock()
    path = _path(clock)
    header = Header("Opportunity", ("006A",), "UPDATE", "", 0, frozenset({"StageName"}))
    path.queue.put(Notice(TOPIC, b"\x02", header, clock.now))
    path.drain()  # the cycle fails: done() is not called
    assert path.drain().deal_ids == {"006A"}
    path.done()
    assert not path.drain().needs_cycle


def test_changed_line_items_name_their_deals_in_one_query_per_300():
    from sync.daemon.event_jobs import _deals_of

    asked = []

    class Client:
        def query_pages(self, soql, include_deleted):
            asked.append(soql)
            yield [{"OpportunityId": "006A"}, {"OpportunityId": "006B"}, {"OpportunityId": None}]

    deals = _deals_of(SimpleNamespace(client=Client()), {f"00k{i:015d}" for i in range(301)})
    assert deals == {"006A", "006B"} and len(asked) == 2
    assert asked[0].startswith("SELECT OpportunityId FROM OpportunityLineItem WHERE Id IN (")


def test_a_streams_end_and_the_next_ones_start_in_one_drain_leave_it_connected():
    clock = Clock()
    path = _path(clock)
    path.queue.put(Up(TOPIC, clock.now, latest=False))
    path.queue.put(Down(TOPIC, Fault.REPLAY_TOO_OLD, "too old", clock.now, 0.0))
    path.queue.put(Up(TOPIC, clock.now, latest=True))
    path.queue.put(Keepalive(TOPIC, b"\x03"))
    work = path.drain()
    assert path.connected and path.healthy() and path.status["connected_since"]
    assert work.poll_now == ["subscribed_latest"]


def test_a_fallbacks_poll_window_runs_once_more_two_seconds_later_and_only_once():
    """The first window ends at Salesforce's clock read to the whole second: an overflow's changes
    committed in the second before it can fall after its end, so one more window follows."""
    clock = Clock()
    path = _path(clock)
    path.pending.poll_now.append("overflow")
    path.done()
    clock.now += FOLLOW_UP_SECONDS - 0.1
    assert path.drain().poll_now == []  # not yet
    clock.now += 0.1
    assert path.drain().poll_now == [FOLLOW_UP]
    assert path.drain().poll_now == [FOLLOW_UP]  # a failed cycle keeps it, once
    path.done()  # the follow-up's own window asks for none after it
    clock.now += 60
    assert path.drain().poll_now == [] and path.follow_up_at is None


def test_work_without_a_poll_window_asks_for_no_follow_up():
    clock = Clock()
    path = _path(clock)
    path.pending.deal_ids.add("006000000000001AAA")
    path.done()
    clock.now += 60
    assert path.drain().poll_now == []
