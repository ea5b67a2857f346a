"""The Pub/Sub client and listener against an in-process server: headers, flow control, the schema
cache, and every stream fault with what the listener does next (back-off on an injected sleep)."""

from __future__ import annotations

import queue
import threading

import grpc
import pytest

from sync.events import pubsub_api_pb2 as pb
from sync.events.client import Credentials, Fault, PubSub
from sync.events.listener import BACKOFF_MAX, LIMIT_PAUSE, Down, Keepalive, Listener, Notice, Up
from tests.fixtures.pubsub_fake import Abort, payload, serve

PREFIX = "sfdc.platform.eventbus.grpc."


@pytest.fixture
def server(tmp_path):
    srv, fake, endpoint, ca = serve(tmp_path)
    yield fake, endpoint, ca
    srv.stop(0)


def _listen(
    server,
    start=None,
    script=(),
    until=lambda items: False,
    stop_after=20,
    subscribes=1,
    tokens=None,
):
    fake, endpoint, ca = server
    for steps in script:
        fake.script.put(steps)
    slept: list[float] = []
    out: queue.Queue = queue.Queue()
    tokens = tokens or (lambda: "tok")
    pubsub = PubSub(
        endpoint, ca, lambda: Credentials(tokens(), "https://org.example", "00D000000000001AAA")
    )

    def sleep(seconds):
        slept.append(seconds)
        return len(slept) >= stop_after

    listener = Listener(pubsub, "/data/OpportunityChangeEvent", start, out, sleep=sleep)
    listener.start()
    items = []
    while not until(items):
        items.append(out.get(timeout=10))
    for _ in range(
        200
    ):  # the server has seen the last subscribe (the listener queues Up as it sends it)
        if len(fake.subscribes) >= subscribes:
            break
        threading.Event().wait(0.05)
    listener.stop()
    listener.join(timeout=5)
    pubsub.close()
    return items, slept


def test_events_are_decoded_headers_queued_in_order_with_auth_metadata(server):
    events = [(bytes([0, i]), payload([f"006{i:015d}"], commit_ms=1_000 + i)) for i in range(3)]
    items, _ = _listen(
        server,
        start=b"\x00\x07",
        script=[[*events, ("K", b"\x00\x09")]],
        until=lambda items: any(isinstance(i, Keepalive) for i in items),
    )
    notices = [i for i in items if isinstance(i, Notice)]
    assert [n.header.record_ids for n in notices] == [(f"006{i:015d}",) for i in range(3)]
    assert [n.replay_id for n in notices] == [b"\x00\x00", b"\x00\x01", b"\x00\x02"]
    assert notices[0].header.changed_fields == frozenset({"StageName"})
    assert notices[0].header.commit_ms == 1_000
    fake = server[0]
    first = fake.subscribes[0]
    assert (first.replay_preset, first.replay_id, first.num_requested) == (
        pb.CUSTOM,
        b"\x00\x07",
        100,
    )
    assert {k: fake.metadata[0][k] for k in ("accesstoken", "instanceurl", "tenantid")} == {
        "accesstoken": "tok",
        "instanceurl": "https://org.example",
        "tenantid": "00D000000000001AAA",
    }
    assert fake.schema_calls == 1  # cached by schema id


def test_credits_are_asked_again_when_none_are_owed(server):
    events = [(i.to_bytes(4, "big"), payload(["006000000000000001"])) for i in range(101)]
    items, _ = _listen(server, script=[events], until=lambda items: len(items) >= 102)
    assert sum(isinstance(i, Notice) for i in items) == 101
    fake = server[0]
    assert fake.subscribes[0].replay_preset == pb.LATEST
    assert len(fake.requests) >= 2 and fake.requests[1].num_requested == 100


def test_replay_too_old_subscribes_from_latest_once_never_a_loop(server):
    too_old = Abort(
        grpc.StatusCode.INVALID_ARGUMENT, PREFIX + "subscription.fetch.replayid.corrupted"
    )
    items, slept = _listen(
        server,
        start=b"\x00\x01",
        script=[[too_old], []],
        subscribes=2,
        until=lambda items: sum(isinstance(i, Up) for i in items) >= 2,
    )
    downs = [i for i in items if isinstance(i, Down)]
    assert [d.fault for d in downs] == [Fault.REPLAY_TOO_OLD] and downs[0].retry_in == 0
    ups = [i for i in items if isinstance(i, Up)]
    assert [u.latest for u in ups] == [False, True]
    fake = server[0]
    assert [s.replay_preset for s in fake.subscribes] == [pb.CUSTOM, pb.LATEST]


def test_a_dropped_stream_backs_off_doubling_and_resumes_after_the_last_event(server):
    drop = Abort(grpc.StatusCode.UNAVAILABLE, PREFIX + "service.unavailable")
    script = [[(b"\x00\x05", payload(["006000000000000001"])), drop], [drop], []]
    items, slept = _listen(
        server,
        start=None,
        script=script,
        subscribes=3,
        until=lambda items: sum(isinstance(i, Up) for i in items) >= 3,
    )
    assert [d.retry_in for d in items if isinstance(d, Down)] == [1.0, 2.0]
    fake = server[0]
    assert [(s.replay_preset, s.replay_id) for s in fake.subscribes] == [
        (pb.LATEST, b""),
        (pb.CUSTOM, b"\x00\x05"),
        (pb.CUSTOM, b"\x00\x05"),
    ]
    assert slept == [1.0, 2.0]


def test_allocation_spent_resubscribes_an_hour_later(server):
    spent = Abort(grpc.StatusCode.RESOURCE_EXHAUSTED, PREFIX + "subscription.limit.exceeded")
    items, slept = _listen(
        server,
        script=[[spent], []],
        subscribes=2,
        until=lambda items: sum(isinstance(i, Up) for i in items) >= 2,
    )
    assert [(d.fault, d.retry_in) for d in items if isinstance(d, Down)] == [
        (Fault.LIMIT, LIMIT_PAUSE)
    ]
    assert slept == [LIMIT_PAUSE] and BACKOFF_MAX < LIMIT_PAUSE


def test_an_expired_token_waits_for_the_daemons_new_one_then_resubscribes_with_it(server):
    given = iter(["old", "old", "old", "old", "new"] + ["new"] * 50)
    expired = Abort(grpc.StatusCode.UNAUTHENTICATED, PREFIX + "service.auth.error")
    items, slept = _listen(
        server,
        script=[[expired], []],
        subscribes=2,
        tokens=lambda: next(given),
        until=lambda items: sum(isinstance(i, Up) for i in items) >= 2,
    )
    assert [d.fault for d in items if isinstance(d, Down)] == [Fault.AUTH]
    fake = server[0]
    assert [m["accesstoken"] for m in fake.metadata] == ["old", "new"]
    assert slept[0] == 0.0 and set(slept[1:]) == {0.2}  # no back-off: looked for the new token


def test_a_missing_topic_ends_the_listener_saying_so(server):
    missing = Abort(grpc.StatusCode.NOT_FOUND, PREFIX + "topic.not.found")
    items, slept = _listen(
        server, script=[[missing]], until=lambda items: any(isinstance(i, Down) for i in items)
    )
    down = next(i for i in items if isinstance(i, Down))
    assert (down.fault, down.retry_in) == (Fault.CONFIG, None)
    assert "topic.not.found" in down.message and slept == []


def test_an_event_that_does_not_fit_its_schema_is_skipped_and_named_not_resubscribed_forever(
    server,
):
    from sync.events.listener import Unreadable

    events = [(b"\x00\x01", b"\xff\xff\xff"), (b"\x00\x02", payload(["006000000000000001"]))]
    items, slept = _listen(
        server, script=[events], until=lambda items: any(isinstance(i, Notice) for i in items)
    )
    bad = next(i for i in items if isinstance(i, Unreadable))
    assert (
        bad.replay_id == b"\x00\x01" and not any(isinstance(i, Down) for i in items) and slept == []
    )
