"""What a drain asks of the cycle: ids to re-read, a poll now, echoes skipped, the replay id
reached."""

from __future__ import annotations

from sync.events.client import Fault
from sync.events.headers import Header
from sync.events.intake import take
from sync.events.listener import Down, Keepalive, Notice, Up

DEALS, ITEMS = "/data/OpportunityChangeEvent", "/data/OpportunityLineItemChangeEvent"
WRITTEN = frozenset({"psa_project_id__c", "delivery_status__c"})
ORIGIN = "com/salesforce/api/rest/62.0;client=psa-sync"


def _n(ids, change="UPDATE", origin="", changed=("StageName",), topic=DEALS, replay=b"\x01"):
    header = Header(
        "Opportunity",
        tuple(ids),
        change,
        origin,
        1_000_000,
        frozenset(changed) if changed else None,
    )
    return Notice(topic, replay, header, 1_001.5)


def _take(*items):
    return take(items, line_items_topic=ITEMS, written=WRITTEN)


def test_events_name_deals_to_reread_and_the_last_replay_id():
    work = _take(
        _n(["A", "B"], replay=b"\x01"),
        _n(["B"], "GAP_UPDATE", changed=None, replay=b"\x02"),
        _n(["C"], "DELETE", replay=b"\x03"),
    )
    assert work.deal_ids == {"A", "B", "C"} and not work.poll_now
    assert work.replay == {DEALS: b"\x03"} and work.events == 3 and work.lags == [1.5, 1.5, 1.5]


def test_overflow_and_wildcards_poll_now():
    work = _take(
        _n(["000000000000000AAA"], "GAP_OVERFLOW", changed=None),
        _n(["006*"], "GAP_UPDATE", changed=None),
    )
    assert work.poll_now == ["overflow", "wildcard"] and not work.deal_ids


def test_latest_subscriptions_poll_now_and_a_line_item_delete_too():
    work = _take(
        Down(DEALS, Fault.REPLAY_TOO_OLD, "old", 1.0, 0.0),
        Up(DEALS, 2.0, latest=True),
        _n(["00k1"], "DELETE", topic=ITEMS),
    )
    assert work.poll_now == ["subscribed_latest", "line_item_delete"]


def test_line_item_changes_name_line_items():
    work = _take(_n(["00k1"], "CREATE", topic=ITEMS, changed=("Quantity",)))
    assert work.line_item_ids == {"00k1"} and not work.deal_ids


def test_own_writes_are_echoes_only_when_every_changed_field_is_ours():
    echo = _n(
        ["A"], origin=ORIGIN, changed=("PSA_Project_Id__c", "LastModifiedDate", "SystemModstamp")
    )
    flow_too = _n(
        ["B"], origin=ORIGIN, changed=("PSA_Project_Id__c", "StageName")
    )  # a flow in the same transaction
    person = _n(
        ["C"], origin="com/salesforce/api/rest/62.0;client=other", changed=("PSA_Project_Id__c",)
    )
    no_bitmap = _n(["D"], origin=ORIGIN, changed=None)
    work = _take(echo, flow_too, person, no_bitmap)
    assert work.echoes == 1 and work.deal_ids == {"B", "C", "D"}
    assert work.replay == {DEALS: b"\x01"}  # the echo's replay id moves on with the others


def test_a_keepalive_moves_the_replay_id_without_work():
    work = _take(Keepalive(DEALS, b"\x09"))
    assert work.replay == {DEALS: b"\x09"} and not work.needs_cycle


def test_work_a_failed_cycle_left_is_kept_with_the_next_drain():
    first = _take(_n(["A"], replay=b"\x01"))
    merged = first.merge(_take(_n(["B"], replay=b"\x02")))
    assert merged.deal_ids == {"A", "B"} and merged.replay == {DEALS: b"\x02"}


def test_an_unreadable_event_polls_now_and_moves_the_replay_id():
    from sync.events.listener import Unreadable

    work = _take(Unreadable(DEALS, b"\x07", "bad"))
    assert work.poll_now == ["unreadable"] and work.replay == {DEALS: b"\x07"}
