"""Change events from the emulator's record-write path, read through a real gRPC client over TLS:
one event per record per transaction, only the changed fields, the origin of the writing call."""

from __future__ import annotations

from sync.emulator.pubsub.avro import Schemas
from sync.emulator.pubsub.bus import ALL_CHANGES
from sync.emulator.schema import Schema
from sync.events import pubsub_api_pb2 as pb
from tests.fixtures.emulator import sf_client
from tests.fixtures.pubsub import Subscription

LINES = "/data/OpportunityLineItemChangeEvent"
PSA = {"Sforce-Call-Options": "client=psa-sync"}


def _deal(emu, name="Acme rollout"):
    return emu.create(
        "Opportunity", Name=name, StageName="Prospecting", CloseDate="2026-03-01", Amount=1000
    )


def test_an_update_is_one_event_naming_the_record_whose_bitmap_decodes_to_the_changed_fields(
    emulator,
):
    deal = _deal(emulator)
    with Subscription(emulator) as sub:
        emulator.update("Opportunity", deal, StageName="Closed Won", Description=None)
        (event,) = sub.events(1)
        change = sub.decode(event)
    assert (change.entity, change.record_ids, change.change_type) == (
        "Opportunity",
        (deal,),
        "UPDATE",
    )
    assert set(change.changed_fields) == {
        "StageName",
        "Probability",
        "IsClosed",
        "IsWon",
        "LastModifiedDate",
    }
    assert change.body["StageName"] == "Closed Won" and change.body["IsWon"] is True
    assert (
        "Name" not in change.body and "Amount" not in change.body
    )  # unchanged: never the whole record
    assert change.change_origin == "" and change.client() is None  # a user's edit, not an API call
    assert change.commit_user == emulator.user_id and change.sequence_number == 1
    stamp = emulator.get("Opportunity", deal)["SystemModstamp"]
    assert change.body["LastModifiedDate"] == _ms(stamp) <= change.commit_timestamp


def test_nulling_a_field_sets_its_bit_in_nulled_fields(emulator):
    deal = emulator.create(
        "Opportunity", Name="N", StageName="Prospecting", CloseDate="2026-03-01", LeadSource="Web"
    )
    with Subscription(emulator) as sub:
        emulator.update("Opportunity", deal, LeadSource=None)
        change = sub.decode(sub.events(1)[0])
    assert change.nulled_fields == ("LeadSource",) and "LeadSource" in change.changed_fields


def test_rest_writes_carry_the_client_of_sforce_call_options_so_a_subscriber_skips_its_echo(
    emulator,
):
    deal = _deal(emulator)
    sf = sf_client(emulator)
    with Subscription(emulator) as sub:
        sf.Opportunity.update(deal, {"PSA_Status__c": "linked"}, headers=PSA)
        sf.Opportunity.update(deal, {"PSA_Status__c": "person"})
        mine, theirs = (sub.decode(e) for e in sub.events(2))
    assert mine.change_origin == f"com/salesforce/api/rest/{emulator.api_version};client=psa-sync"
    assert mine.client() == "psa-sync" and mine.changed_fields == (
        "LastModifiedDate",
        "PSA_Status__c",
    )
    assert theirs.client() is None and theirs.change_origin.startswith("com/salesforce/api/rest/")


def test_a_collection_is_one_transaction_and_a_rolled_back_one_publishes_nothing(emulator):
    first, second = _deal(emulator, "A"), _deal(emulator, "B")
    sf = sf_client(emulator)
    body = {
        "allOrNone": True,
        "records": [
            {"attributes": {"type": "Opportunity"}, "id": first, "PSA_Status__c": "x"},
            {"attributes": {"type": "Opportunity"}, "id": second, "PSA_Status__c": "y"},
        ],
    }
    bad = {
        "allOrNone": True,
        "records": [
            {"attributes": {"type": "Opportunity"}, "id": first, "PSA_Status__c": "rolled back"},
            {"attributes": {"type": "Opportunity"}, "id": second, "StageName": "Not a stage"},
        ],
    }
    with Subscription(emulator) as sub:
        assert not all(
            r["success"] for r in sf.restful("composite/sobjects", method="PATCH", json=bad)
        )
        sf.restful("composite/sobjects", method="PATCH", json=body, headers=PSA)
        a, b = (sub.decode(e) for e in sub.events(2))
        emulator.update("Opportunity", first, PSA_Status__c="after")
        after = sub.decode(sub.events(1)[0])
    assert (a.record_ids, b.record_ids) == (
        (first,),
        (second,),
    )  # the rolled-back write sent nothing
    assert a.transaction_key == b.transaction_key and (a.sequence_number, b.sequence_number) == (
        1,
        2,
    )
    assert a.body["PSA_Status__c"] == "x" and a.client() == "psa-sync"
    assert after.body["PSA_Status__c"] == "after" and after.transaction_key != a.transaction_key


def test_create_delete_and_undelete_have_their_change_types(emulator):
    with Subscription(emulator) as sub:
        deal = _deal(emulator)
        emulator.delete(deal)
        emulator.undelete(deal)
        created, deleted, undeleted = (sub.decode(e) for e in sub.events(3))
    assert [c.change_type for c in (created, deleted, undeleted)] == [
        "CREATE",
        "DELETE",
        "UNDELETE",
    ]
    assert created.body["Name"] == "Acme rollout" and created.changed_fields == ()
    assert deleted.body == {} and undeleted.body["Name"] == "Acme rollout"
    assert {c.record_ids for c in (created, deleted, undeleted)} == {(deal,)}


def test_a_line_item_write_and_its_roll_up_are_one_transaction_on_the_multi_entity_channel(
    emulator,
):
    entry = emulator.add_product("Training", code="TRN", list_price=500)
    deal = _deal(emulator)
    with Subscription(emulator, LINES) as lines, Subscription(emulator, ALL_CHANGES) as everything:
        line = emulator.add_line_item(deal, entry, quantity=3)  # Amount 1000 → 1500
        emulator.delete(line)
        line_events = [lines.decode(e) for e in lines.events(2)]
        all_events = [everything.decode(e) for e in everything.events(4)]
    assert [(c.change_type, c.record_ids) for c in line_events] == [
        ("CREATE", (line,)),
        ("DELETE", (line,)),
    ]
    assert [(c.entity, c.change_type) for c in all_events] == [
        ("OpportunityLineItem", "CREATE"),
        ("Opportunity", "UPDATE"),
        ("OpportunityLineItem", "DELETE"),
        ("Opportunity", "UPDATE"),
    ]
    assert (
        all_events[0].transaction_key
        == all_events[1].transaction_key
        != all_events[2].transaction_key
    )
    assert "Amount" in all_events[1].changed_fields and all_events[1].record_ids == (deal,)


def test_a_late_commit_publishes_when_it_becomes_visible_with_the_commits_time(emulator):
    with Subscription(emulator) as sub:
        held = emulator.create(
            "Opportunity", _hidden=True, Name="Late", StageName="Closed Won", CloseDate="2026-03-01"
        )
        other = _deal(emulator, "Visible")
        first = sub.decode(sub.events(1)[0])
        emulator.release([held])
        late = sub.decode(sub.events(1)[0])
    assert first.record_ids == (other,)  # nothing for the held row while it is invisible
    assert (late.record_ids, late.change_type) == ((held,), "CREATE")
    assert late.commit_timestamp >= first.commit_timestamp > late.body["LastModifiedDate"]


def test_topics_and_schemas_come_from_the_object_definitions_and_a_new_field_is_a_new_schema(
    emulator,
):
    deal = _deal(emulator)
    with Subscription(emulator) as sub:
        topic = sub.stub.GetTopic(
            pb.TopicRequest(topic_name="/data/OpportunityChangeEvent"), metadata=sub.metadata
        )
        emulator.update("Opportunity", deal, PSA_Status__c="a")
        emulator.register_field("Opportunity", "Region__c", "string")
        emulator.update("Opportunity", deal, Region__c="EMEA")
        before, after = sub.events(2)
        old = sub.stub.GetSchema(
            pb.SchemaRequest(schema_id=before.event.schema_id), metadata=sub.metadata
        )
        changed = sub.decode(after)
    assert topic.schema_id == before.event.schema_id != after.event.schema_id
    fresh = Schemas().current(
        Schema().object("Opportunity")
    )  # the id is the schema text's, not the process's
    assert fresh == before.event.schema_id
    assert (topic.tenant_guid, topic.can_subscribe, topic.can_publish) == (
        emulator.org_id,
        True,
        False,
    )
    assert (
        '"name":"OpportunityChangeEvent"' in old.schema_json and "Region__c" not in old.schema_json
    )
    assert changed.changed_fields == ("LastModifiedDate", "Region__c")


def _ms(stamp: str) -> int:
    from sync.extract.soql import parse_sf_datetime

    return int(parse_sf_datetime(stamp).timestamp() * 1000)
