"""The Subscribe stream's rules as the emulator serves them.

Flow control, keepalives, replay ids and their retention, auth, injected gap/overflow/wildcard
events, allocation, drops and idle close. Intervals are configured short; tests wait on
conditions, never assert on elapsed time.
"""

from __future__ import annotations

import grpc
import pytest

from sync.events import pubsub_api_pb2 as pb
from tests.fixtures.pubsub import OPPORTUNITY, Subscription, auth, channel, error_code, wait_until

PREFIX = "sfdc.platform.eventbus.grpc."


def _deal(emu, name="Acme"):
    return emu.create("Opportunity", Name=name, StageName="Prospecting", CloseDate="2026-03-01")


def _touch(emu, deal, n):
    for i in range(n):
        emu.update("Opportunity", deal, PSA_Status__c=f"step {i}")


def test_at_most_num_requested_events_are_sent_until_the_client_asks_again(emulator):
    deal = _deal(emulator)
    with Subscription(emulator, num_requested=2) as sub:
        _touch(emulator, deal, 5)
        responses = [sub.response()]
        while responses[-1].pending_num_requested:
            responses.append(sub.response())
        first = [e for r in responses for e in r.events]
        sent_before_asking = emulator.pubsub_snapshot()["delivered_today"]
        sub.fetch(3)
        rest = sub.events(3)
        bodies = [sub.decode(e).body["PSA_Status__c"] for e in [*first, *rest]]
    assert len(first) == 2
    assert sent_before_asking == 2  # the server held the other three
    assert bodies == [f"step {i}" for i in range(5)]


def test_more_than_100_requested_is_taken_as_100_as_salesforce_does(emulator):
    deal = _deal(emulator)
    with Subscription(emulator, num_requested=150) as sub:
        _touch(emulator, deal, 1)
        response = sub.response()
    assert len(response.events) == 1 and response.pending_num_requested == 99


def test_zero_requested_fails_the_stream(emulator):
    with Subscription(emulator, num_requested=0, wait=False) as sub:
        error = sub.error()
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(error) == PREFIX + "subscription.fetch.requested.events.invalid"


def test_replay_ids_are_opaque_monotonic_and_not_contiguous(emulator):
    deal = _deal(emulator)
    with Subscription(emulator) as sub:
        _touch(emulator, deal, 20)
        positions = [int.from_bytes(e.replay_id, "big") for e in sub.events(20)]
    assert all(len(e) == 8 for e in [p.to_bytes(8, "big") for p in positions])
    assert positions == sorted(set(positions))
    assert {b - a for a, b in zip(positions, positions[1:], strict=False)} != {1}


def test_an_idle_stream_gets_keepalives_whose_replay_id_resumes_after_everything_sent(emulator):
    emulator.configure_pubsub(keepalive_s=0.05)
    deal = _deal(emulator)
    with Subscription(emulator) as sub:
        _touch(emulator, deal, 1)
        sub.events(1)
        keepalive = sub.response()
    assert (
        not keepalive.events
        and len(keepalive.latest_replay_id) == 8
        and keepalive.pending_num_requested == 99
    )
    assert emulator.pubsub_snapshot()["keepalives"] >= 1
    with Subscription(emulator, preset=pb.CUSTOM, replay_id=keepalive.latest_replay_id) as resumed:
        emulator.update("Opportunity", deal, PSA_Status__c="after the keepalive")
        (event,) = resumed.events(1)
        assert resumed.decode(event).body["PSA_Status__c"] == "after the keepalive"


def test_custom_resumes_after_a_replay_id_and_earliest_replays_what_is_retained(emulator):
    deal = _deal(emulator)
    with Subscription(emulator) as sub:
        _touch(emulator, deal, 3)
        first, *_ = sub.events(3)
    with Subscription(emulator, preset=pb.CUSTOM, replay_id=first.replay_id) as custom:
        seen = [custom.decode(e).body["PSA_Status__c"] for e in custom.events(2)]
    with Subscription(emulator, preset=pb.EARLIEST) as earliest:
        everything = [earliest.decode(e).change_type for e in earliest.events(4)]
    assert seen == ["step 1", "step 2"] and everything == ["CREATE", "UPDATE", "UPDATE", "UPDATE"]


def test_a_replay_id_older_than_retention_fails_with_the_corrupted_replay_id_code(emulator):
    deal = _deal(emulator)
    with Subscription(emulator) as sub:
        _touch(emulator, deal, 1)
        (event,) = sub.events(1)
    emulator.advance_event_clock(72 * 3600 + 1)
    with Subscription(emulator, preset=pb.CUSTOM, replay_id=event.replay_id, wait=False) as stale:
        error = stale.error()
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(error) == PREFIX + "subscription.fetch.replayid.corrupted"
    assert "Replay ID validation failed" in error.details() and "rpcId:" in error.details()
    with Subscription(emulator, preset=pb.CUSTOM, wait=False) as missing:
        assert (
            error_code(missing.error()) == PREFIX + "subscription.fetch.replayid.validation.failed"
        )


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"tenantid": "00D000000000001AAA"}, "service.auth.error"),
        ({"accesstoken": "not-a-session"}, "service.auth.error"),
        ({"instanceurl": "https://elsewhere.example"}, "service.auth.error"),
        ({"tenantid": ""}, "service.auth.headers.invalid"),
    ],
)
def test_wrong_auth_metadata_is_unauthenticated_with_the_error_code_trailer(
    emulator, override, code
):
    stub = pb.TopicRequest(topic_name=OPPORTUNITY)
    from sync.events import pubsub_api_pb2_grpc as pb_grpc

    with channel(emulator) as chan, pytest.raises(grpc.RpcError) as raised:
        pb_grpc.PubSubStub(chan).GetTopic(stub, metadata=auth(emulator, **override))
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_code(raised.value) == PREFIX + code


def test_expired_sessions_end_open_streams_unauthenticated(emulator):
    with Subscription(emulator) as sub:
        emulator.expire_sessions()
        error = sub.error()
    assert (
        error.code() == grpc.StatusCode.UNAUTHENTICATED
        and error_code(error) == PREFIX + "service.auth.error"
    )


def test_an_unknown_topic_is_not_found(emulator):
    with Subscription(emulator, topic="/data/AccountChangeEvent", wait=False) as sub:
        error = sub.error()
    assert (
        error.code() == grpc.StatusCode.NOT_FOUND
        and error_code(error) == PREFIX + "topic.not.found"
    )


def test_gap_overflow_and_wildcard_events_are_headers_only(emulator):
    deal = _deal(emulator)
    with Subscription(emulator) as sub:
        emulator.publish_gap([deal])
        emulator.publish_overflow()
        emulator.publish_wildcard()
        gap, overflow, wildcard = (sub.decode(e) for e in sub.events(3))
    assert (gap.change_type, gap.record_ids, gap.body, gap.changed_fields) == (
        "GAP_UPDATE",
        (deal,),
        {},
        (),
    )
    assert gap.is_gap and not gap.is_overflow
    assert (overflow.change_type, overflow.record_ids) == ("GAP_OVERFLOW", ("000000000000000AAA",))
    assert wildcard.record_ids == ("006*",) and wildcard.is_wildcard


def test_a_spent_delivery_allocation_fails_the_stream_at_the_next_delivery(emulator):
    emulator.configure_pubsub(delivery_limit=3)
    deal = _deal(emulator)
    with Subscription(emulator) as sub:
        _touch(emulator, deal, 2)
        sub.events(2)
        emulator.exhaust_delivery()
        _touch(emulator, deal, 1)
        error = sub.error()
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_code(error) == PREFIX + "subscription.limit.exceeded"
    snapshot = emulator.pubsub_snapshot()
    (per_subscriber,) = snapshot["delivered"].values()
    assert snapshot["delivered_today"] == 3 and sorted(per_subscriber.values()) == [1, 2]
    from tests.fixtures.emulator import sf_client

    assert sf_client(emulator).limits()["DailyDeliveredPlatformEvents"] == {
        "Max": 3,
        "Remaining": 0,
    }


def test_dropped_streams_end_unavailable_and_a_new_stream_resumes_by_replay_id(emulator):
    deal = _deal(emulator)
    with Subscription(emulator) as sub:
        _touch(emulator, deal, 1)
        (last,) = sub.events(1)
        emulator.drop_streams()
        error = sub.error()
    assert (
        error.code() == grpc.StatusCode.UNAVAILABLE
        and error_code(error) == PREFIX + "service.unavailable"
    )
    emulator.update("Opportunity", deal, PSA_Status__c="while away")
    with Subscription(emulator, preset=pb.CUSTOM, replay_id=last.replay_id) as again:
        assert again.decode(again.events(1)[0]).body["PSA_Status__c"] == "while away"
    snapshot = emulator.pubsub_snapshot()
    assert snapshot["streams_opened"] == 2 and snapshot["rpc.Subscribe"] == 2


def test_a_stream_with_no_credits_and_no_new_fetch_request_is_closed(emulator):
    emulator.configure_pubsub(idle_close_s=0.05)
    deal = _deal(emulator)
    with Subscription(emulator, num_requested=1) as sub:
        _touch(emulator, deal, 1)
        sub.events(1)
        error = sub.error()
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    wait_until(lambda: emulator.pubsub_snapshot()["streams_open"] == 0, "the stream to be closed")


def test_a_different_topic_in_a_later_fetch_request_fails_the_stream(emulator):
    with Subscription(emulator) as sub:
        sub.fetch(1, topic="/data/ChangeEvents")
        error = sub.error()
    assert error_code(error) == PREFIX + "subscription.fetch.topic.mismatch"


def test_the_pubsub_control_methods_are_reachable_over_http(emulator):
    from tests.fixtures.emulator import trusting_session

    session = trusting_session(emulator)
    admin = {"Authorization": f"Bearer {emulator.admin_token}"}
    base = f"{emulator.url}/__emulator"
    with Subscription(emulator) as sub:
        assert session.post(f"{base}/publish_overflow", headers=admin, json={}).status_code == 200
        assert sub.decode(sub.events(1)[0]).is_overflow
    bad = session.post(f"{base}/configure_pubsub", headers=admin, json={"keepalive_s": -1})
    assert bad.status_code == 400 and "keepalive_s" in bad.json()["message"]
    snapshot = session.post(f"{base}/pubsub_snapshot", headers=admin).json()["result"]
    assert (snapshot["published"], snapshot["delivered_today"], snapshot["streams_opened"]) == (
        1,
        1,
        1,
    )
    assert emulator.calls_snapshot() == {}  # the event path costs no REST call
