"""The diff is pure: desired rows + links in, a Plan out."""

from datetime import UTC, date, datetime
from decimal import Decimal

from sync.common.model import DesiredRow, Facts, Link
from sync.transform.diff import canonical, payload_hash, plan_changes

WRITEBACK = {"PSA_Project_Id__c": "project.id", "PSA_Project_URL__c": "project.url"}
FIELDS = {
    "name": "Acme - Rollout",
    "budget": Decimal("125000.50"),
    "start_date": date(2026, 2, 1),
    "description": "first scope",
}


def row(oid="006A", matches=True, deleted=False, record_links=None, **fields):
    return DesiredRow(
        record_id=oid,
        key=oid,
        modstamp=datetime(2026, 2, 1, tzinfo=UTC),
        deleted=deleted,
        matches=matches,
        fields={**FIELDS, **fields},
        record_links=record_links
        if record_links is not None
        else {"PSA_Project_Id__c": "7", "PSA_Project_URL__c": "http://r/projects/sf-006a"},
    )


def link(oid="006A", payload=None, **changes):
    payload = dict(FIELDS) if payload is None else payload
    values = dict(
        record_id=oid,
        key=oid,
        project_id=7,
        project_identifier="sf-006a",
        project_url="http://r/projects/sf-006a",
        payload_hash=payload_hash(payload),
        payload=payload,
        written={"PSA_Project_Id__c": "7", "PSA_Project_URL__c": "http://r/projects/sf-006a"},
        backsync={},
        link_state="active",
        sf_status="Won",
        closed_by=None,
        pending={},
        kept_psa=[],
    )
    values.update(changes)
    return Link(**values)


def plan(rows, links, **kw):
    return plan_changes(rows, links, writeback=WRITEBACK, on_create={"description"}, **kw)


def test_a_new_matching_deal_is_created():
    result = plan([row()], {})
    assert [c.row.record_id for c in result.creates] == ["006A"]


def test_a_deleted_or_non_matching_unlinked_deal_is_never_created():
    result = plan([row("006D", deleted=True, matches=False), row("006L", matches=False)], {})
    assert result.creates == [] and sorted(result.ignored) == ["006D", "006L"]


def test_a_deal_unlinked_by_hand_is_never_created_while_it_is_ignored():
    result = plan([row("006A"), row("006B")], {}, ignored={"006A"})
    assert [c.row.record_id for c in result.creates] == ["006B"] and result.ignored == ["006A"]


def test_the_echo_of_our_own_write_back_is_a_no_op():
    result = plan([row()], {"006A": link()})
    assert result.unchanged == ["006A"] and not result.updates and not result.repairs


def test_equal_decimals_written_differently_hash_the_same():
    assert canonical(Decimal("125000.5")) == canonical(Decimal("125000.50")) == canonical(125000.5)
    assert payload_hash({"b": Decimal("1.10")}) == payload_hash({"b": Decimal("1.1")})


def test_a_changed_amount_updates_only_the_budget():
    result = plan([row(budget=Decimal("130000"))], {"006A": link()})
    [update] = result.updates
    assert update.changed == {"budget": Decimal("130000")}


def test_an_on_create_field_is_never_updated():
    result = plan([row(description="rewritten in Salesforce")], {"006A": link()})
    [update] = result.updates
    assert update.changed == {}


def test_a_field_kept_as_edited_in_the_psa_is_not_pushed():
    result = plan([row(name="New name")], {"006A": link(kept_psa=["name"])})
    assert result.updates[0].changed == {}


def test_a_cleared_link_field_is_repaired():
    cleared = row(
        record_links={"PSA_Project_Id__c": None, "PSA_Project_URL__c": "http://r/projects/sf-006a"}
    )
    result = plan([cleared], {"006A": link()})
    assert result.repairs == {"006A": {"PSA_Project_Id__c": "7"}}


def test_a_field_already_waiting_in_the_outbox_is_not_repaired_twice():
    cleared = row(
        record_links={"PSA_Project_Id__c": None, "PSA_Project_URL__c": "http://r/projects/sf-006a"}
    )
    result = plan([cleared], {"006A": link()}, pending={("006A", "PSA_Project_Id__c")})
    assert result.repairs == {}


def test_a_clone_carrying_the_original_link_fields_gets_its_own_project():
    clone = row("006C")  # record_links still point at project 7
    result = plan([clone], {"006A": link()})
    assert [c.row.record_id for c in result.creates] == ["006C"]


def test_a_linked_deal_that_is_lost_or_deleted_changes_lifecycle_not_fields():
    lost = plan([row(matches=False, budget=Decimal("1"))], {"006A": link()})
    gone = plan([row(deleted=True, matches=False)], {"006A": link()})
    assert [(c.row.record_id, c.status) for c in lost.lifecycle] == [("006A", "Excluded")]
    assert [c.status for c in gone.lifecycle] == ["Deleted"]
    assert lost.updates == [] and gone.updates == [] and gone.repairs == {}


def test_a_deal_won_again_returns_to_won():
    result = plan([row()], {"006A": link(sf_status="Lost")})
    assert [c.status for c in result.lifecycle] == ["Won"]


def test_the_deal_facts_tell_lost_reopened_and_excluded_apart():
    lost = plan(
        [row(matches=False)], {"006A": link()}, facts={"006A": Facts(is_won=False, is_closed=True)}
    )
    reopened = plan(
        [row(matches=False)], {"006A": link()}, facts={"006A": Facts(is_won=False, is_closed=False)}
    )
    excluded = plan(
        [row(matches=False)], {"006A": link()}, facts={"006A": Facts(is_won=True, is_closed=True)}
    )
    assert [c.status for c in lost.lifecycle + reopened.lifecycle + excluded.lifecycle] == [
        "Lost",
        "Reopened",
        "Excluded",
    ]
