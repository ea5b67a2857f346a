"""Issue 5: delivery flows back; ownership is enforced; reopened, lost and deleted deals handled."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.fixtures.emulator import won_deal
from tests.fixtures.sync import mapping_variant

pytestmark = pytest.mark.integration

CRM_FIELDS = {
    "Name",
    "AccountId",
    "Amount",
    "CloseDate",
    "StageName",
    "Type",
    "Description",
    "End_Date__c",
}
WRITTEN_BY_US = {
    "PSA_Project_Id__c",
    "PSA_Project_URL__c",
    "PSA_Status__c",
    "PSA_Percent_Complete__c",
    "PSA_Hours_Spent__c",
}


def project_of(redmine, deal_id):
    return redmine.project("sf-" + deal_id.lower())


def projects_of(redmine, emulator):
    """This test's projects: those carrying a key of this emulator's deals (or its accounts')."""
    ids = {i.lower() for i in emulator.ids("Opportunity") + emulator.ids("Account")}
    return [p for p in redmine.projects() if p["identifier"].rsplit("-", 1)[-1] in ids]


def events(harness, deal_id, action):
    return [e for e in harness.explain(deal_id)["events"] if e["action"] == action]


def test_delivery_values_flow_back_and_an_idle_run_sends_nothing(harness, emulator, redmine):
    deal = won_deal(emulator)
    harness.run()
    project = project_of(redmine, deal)
    redmine.log_time(project["id"], 7.5)
    redmine.set_custom_value(project["id"], "Percent complete", "40")
    harness.run()
    record = emulator.get("Opportunity", deal)
    assert (
        record["PSA_Hours_Spent__c"],
        record["PSA_Percent_Complete__c"],
        record["PSA_Status__c"],
    ) == (7.5, 40, "active")

    redmine.close(project["id"])
    harness.run()
    assert emulator.get("Opportunity", deal)["PSA_Status__c"] == "closed"

    emulator.reset_calls()
    harness.run()
    assert emulator.calls_snapshot() == {
        "token": 1,
        "queryAll": 1,
    }  # nothing changed in the PSA: no write


def test_ownership_on_create_survives_crm_name_wins_and_string_values_never_conflict(
    harness, emulator, redmine
):
    deal = won_deal(emulator)
    harness.run()
    project = project_of(redmine, deal)
    redmine.set_fields(project["id"], description="PM's own notes")
    emulator.update("Opportunity", deal, Description="Sales rewrote the scope", Amount=130000)
    harness.run()
    after = project_of(redmine, deal)
    assert after["description"] == "PM's own notes"
    assert Decimal(redmine.custom_value(project["id"], "Budget")) == Decimal("130000")

    # Three quiet runs over string-typed custom values ("130000.0"): no phantom conflict.
    for _ in range(3):
        harness.run()
    assert events(harness, deal, "conflict") == []

    redmine.set_fields(project["id"], name="Renamed by the PM")
    harness.run()
    assert project_of(redmine, deal)["name"] == "Acme Corp - Rollout"
    [conflict] = events(harness, deal, "conflict")
    assert conflict["outcome"] == "overwritten"
    assert conflict["detail"]["name"] == {"psa": "Renamed by the PM", "crm": "Acme Corp - Rollout"}
    assert project_of(redmine, deal)["description"] == "PM's own notes"


def test_keep_psa_leaves_the_edit_and_stops_pushing_that_field(
    harness, emulator, redmine, tmp_path
):
    harness.write_config(
        mapping=mapping_variant(tmp_path, ("conflicts: crm_wins", "conflicts: keep_psa"))
    )
    deal = won_deal(emulator)
    harness.run()
    project = project_of(redmine, deal)
    redmine.set_fields(project["id"], name="Renamed by the PM")
    harness.run()
    emulator.update("Opportunity", deal, Name="Rollout phase 2", Amount=1)
    harness.run()
    assert project_of(redmine, deal)["name"] == "Renamed by the PM"
    assert Decimal(redmine.custom_value(project["id"], "Budget")) == Decimal("1")
    assert [e["outcome"] for e in events(harness, deal, "conflict")] == ["kept-psa"]
    assert harness.explain(deal)["link"]["kept_psa_fields"] == ["name"]


def test_a_change_to_a_closed_project_waits_until_it_is_reopened(harness, emulator, redmine):
    deal = won_deal(emulator)
    harness.run()
    project = project_of(redmine, deal)
    redmine.close(project["id"])
    emulator.update("Opportunity", deal, Amount=200000)
    harness.run(expect=0)
    explained = harness.explain(deal)
    assert explained["link"]["pending_while_closed"] == {"budget": "200000"}
    assert Decimal(redmine.custom_value(project["id"], "Budget")) == Decimal("125000.5")

    redmine.reopen(project["id"])
    harness.run()
    assert Decimal(redmine.custom_value(project["id"], "Budget")) == Decimal("200000")
    assert harness.explain(deal)["link"]["pending_while_closed"] == {}


def test_lost_then_won_again_and_deleted_then_undeleted_keep_one_project(
    harness, emulator, redmine
):
    deal = won_deal(emulator)
    harness.run()
    project = project_of(redmine, deal)

    emulator.update("Opportunity", deal, StageName="Closed Lost")
    harness.run()
    assert redmine.custom_value(project["id"], "Salesforce status") == "Lost"
    emulator.update("Opportunity", deal, StageName="Closed Won")
    harness.run()
    assert redmine.custom_value(project["id"], "Salesforce status") == "Won"

    emulator.delete(deal)
    harness.run()
    assert redmine.custom_value(project["id"], "Salesforce status") == "Deleted"
    emulator.undelete(deal)
    harness.run()
    assert redmine.custom_value(project["id"], "Salesforce status") == "Won"
    assert len(projects_of(redmine, emulator)) == 1
    assert [e["detail"]["status"] for e in events(harness, deal, "lifecycle")] == [
        "Lost",
        "Won",
        "Deleted",
        "Won",
    ]


def test_close_policy_closes_the_project_and_reopens_it_when_won_again(
    harness, emulator, redmine, tmp_path
):
    harness.write_config(mapping=mapping_variant(tmp_path, ("on_unwon: flag", "on_unwon: close")))
    deal = won_deal(emulator)
    harness.run()
    project = project_of(redmine, deal)
    emulator.update("Opportunity", deal, StageName="Negotiation/Review")
    harness.run()
    assert project_of(redmine, deal)["status"] == 5
    assert redmine.custom_value(project["id"], "Salesforce status") == "Reopened"
    emulator.update("Opportunity", deal, StageName="Closed Won")
    harness.run()
    assert project_of(redmine, deal)["status"] == 1
    assert len(projects_of(redmine, emulator)) == 1


def test_parent_project_groups_the_deals_of_one_account(harness, emulator, redmine):
    harness.options = {"customer": "parent_project"}
    harness.write_config()
    account = emulator.create("Account", Name="Globex")
    deals = [
        emulator.create(
            "Opportunity",
            Name=f"Phase {n}",
            AccountId=account,
            StageName="Closed Won",
            Amount=1000 * n,
            CloseDate="2026-03-01",
            Type="New Customer",
        )
        for n in (1, 2)
    ]
    harness.run()
    parents = {project_of(redmine, d)["parent"]["id"] for d in deals}
    assert len(parents) == 1
    assert redmine.project(parents.pop())["name"] == "Globex"
    assert len(projects_of(redmine, emulator)) == 3


def test_a_parent_project_the_psa_refuses_quarantines_that_deal_and_the_rest_of_the_page_is_created(
    harness, emulator, redmine, tmp_path
):
    # "Barter" is no Billing type Redmine knows: the parent project of Initech (which takes the
    # first deal's billing type) is refused with a 422, which is that one deal's failure, not the
    # run's.
    harness.options = {"customer": "parent_project"}
    harness.write_config(
        mapping=mapping_variant(
            tmp_path,
            (
                '"Existing Customer - Downgrade": "Retainer"',
                '"Existing Customer - Downgrade": "Barter"',
            ),
        )
    )
    initech, globex = (
        emulator.create("Account", Name="Initech"),
        emulator.create("Account", Name="Globex"),
    )
    refused = emulator.create(
        "Opportunity",
        Name="Shrink",
        AccountId=initech,
        StageName="Closed Won",
        Amount=10,
        CloseDate="2026-03-01",
        Type="Existing Customer - Downgrade",
    )
    made = [
        emulator.create(
            "Opportunity",
            Name=f"Phase {n}",
            AccountId=globex,
            StageName="Closed Won",
            Amount=1000 * n,
            CloseDate="2026-03-01",
            Type="New Customer",
        )
        for n in (1, 2)
    ]

    result = harness.run(expect=1)

    assert "quarantined 1" in result.stdout
    identifiers = {p["identifier"] for p in redmine.projects()}
    assert {"sf-" + deal.lower() for deal in made} <= identifiers
    assert "sf-" + refused.lower() not in identifiers
    [quarantined] = harness.status()["quarantine"]
    assert quarantined["opportunity_id"] == refused and quarantined["stage"] == "load"
    assert f"parent project of Account {initech}" in quarantined["error"]
    assert "Billing type" in quarantined["error"]  # Redmine's own words


def test_each_side_writes_only_the_fields_it_owns(harness, emulator, redmine):
    deal = won_deal(emulator)
    harness.run()
    project = project_of(redmine, deal)
    redmine.log_time(project["id"], 2)
    redmine.set_custom_value(project["id"], "Percent complete", "10")
    emulator.update("Opportunity", deal, Amount=99)
    harness.run()
    written = set()
    for call in emulator.log_snapshot():
        if call["endpoint"] == "composite":
            for record in call["body"]["records"]:
                written |= set(record) - {"attributes", "id", "Id"}
    assert written <= WRITTEN_BY_US and not written & CRM_FIELDS
    assert (
        redmine.custom_value(project["id"], "Percent complete") == "10"
    )  # the push never wrote it


def test_an_update_lost_behind_a_redmine_500_is_sent_again_even_when_the_deal_is_not_read_again(
    harness, emulator, redmine, redmine_proxy
):
    """Regression (issue 6): an update with an unknown outcome was only retried if the deal happened
    to be re-read within the lookback; an update intent now brings the deal back whatever its
    stamp."""
    harness.extra_env["REDMINE_URL"] = redmine_proxy.url
    deal = won_deal(emulator)
    harness.run()
    emulator.update("Opportunity", deal, Amount=150000)
    # 500s beyond the session's own retries (4 tries) and the end-of-run retry (4 more)
    redmine_proxy.fail_next(10, "error", method="PUT")
    unconfirmed = harness.run(expect=3)
    assert (
        deal in unconfirmed.stderr and "neither confirmed nor refused 1 write" in unconfirmed.stderr
    )
    redmine_proxy.clear()
    project = project_of(redmine, deal)
    assert Decimal(redmine.custom_value(project["id"], "Budget")) == Decimal("125000.5")
    # The deal's last change is now far outside the next run's window: only the intent brings it.
    emulator.update("Opportunity", deal, _stamp=datetime.now(UTC) - timedelta(hours=2))
    harness.run()
    assert Decimal(redmine.custom_value(project["id"], "Budget")) == Decimal("150000")
    assert [e["outcome"] for e in events(harness, deal, "update")][-3:] == [
        "unknown",
        "unknown",
        "updated",
    ]


def test_a_close_lost_behind_redmine_500s_exits_3_and_the_next_run_closes_the_project(
    harness, emulator, redmine, redmine_proxy, tmp_path
):
    harness.extra_env["REDMINE_URL"] = redmine_proxy.url
    harness.write_config(mapping=mapping_variant(tmp_path, ("on_unwon: flag", "on_unwon: close")))
    deal = won_deal(emulator)
    harness.run()
    project = project_of(redmine, deal)
    emulator.update("Opportunity", deal, StageName="Closed Lost")
    redmine_proxy.fail_next(10, "error", method="PUT", path=f"/projects/{project['id']}/close.json")

    unconfirmed = harness.run(expect=3)

    assert deal in unconfirmed.stderr
    assert project_of(redmine, deal)["status"] == 1
    assert [e["outcome"] for e in events(harness, deal, "lifecycle")] == ["unknown"]
    redmine_proxy.clear()
    # Far outside the next run's window: only the intent brings the deal back.
    emulator.update("Opportunity", deal, _stamp=datetime.now(UTC) - timedelta(hours=2))
    harness.run()
    assert project_of(redmine, deal)["status"] == 5
    assert redmine.custom_value(project["id"], "Salesforce status") == "Lost"
    assert [e["outcome"] for e in events(harness, deal, "lifecycle")] == ["unknown", "closed"]
