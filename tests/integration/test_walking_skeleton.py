"""Issue 3: a Closed Won deal becomes exactly one real Redmine project, end to end, via the CLI."""

import json
from datetime import date
from decimal import Decimal

import pytest

pytestmark = pytest.mark.integration

BILLING = {"New Customer": "Fixed Fee", "Existing Customer - Upgrade": "Time & Materials"}


def projects(redmine) -> dict[str, dict]:
    """Every project in Redmine keyed by its Salesforce key, read as a person's script would."""
    found = {}
    for project in redmine.projects():
        values = {cf["name"]: cf.get("value") for cf in project.get("custom_fields", [])}
        found[values.get("Salesforce Opportunity Id")] = dict(project, values=values)
    return found


def seed_book(emu):
    """25 deals over three accounts; 10 of them Closed Won."""
    accounts = [emu.create("Account", Name=name) for name in ("Acme Corp", "Globex", "Initech")]
    won, other = [], []
    for n in range(25):
        is_won = n % 5 in (0, 2)
        deal = emu.create(
            "Opportunity",
            Name=f"Deal {n:02d}",
            AccountId=accounts[n % 3],
            Amount=10000 + n * 1000.5,
            CloseDate=f"2026-03-{n + 1:02d}",
            End_Date__c=f"2026-09-{n + 1:02d}",
            StageName="Closed Won" if is_won else "Prospecting",
            Type="New Customer" if n % 2 else "Existing Customer - Upgrade",
        )
        (won if is_won else other).append(deal)
    return won, other


def test_won_deals_become_projects_exactly_once_and_follow_changes(harness, emulator, redmine):
    won, other = seed_book(emulator)
    assert len(won) == 10
    emulator.reset_calls()

    first = harness.run()

    # Salesforce paid exactly: one token, one query page, one collections call.
    assert emulator.calls_snapshot() == {"token": 1, "queryAll": 1, "composite": 1}, (
        first.stdout + first.stderr
    )
    made = projects(redmine)
    assert sorted(made) == sorted(won)
    for deal_id in won:
        deal = emulator.get("Opportunity", deal_id)
        project = made[deal_id]
        account = emulator.get("Account", deal["AccountId"])["Name"]
        assert project["name"] == f"{account} - {deal['Name']}"
        assert project["identifier"] == "sf-" + deal_id.lower()
        assert project["values"]["Customer"] == account
        assert Decimal(project["values"]["Budget"]) == Decimal(str(deal["Amount"]))
        assert project["values"]["Billing type"] == BILLING[deal["Type"]]
        assert project["values"]["Start date"] == deal["CloseDate"]
        assert project["values"]["End date"] == deal["End_Date__c"]
        assert deal["PSA_Project_Id__c"] == str(project["id"])
        assert deal["PSA_Project_URL__c"] == f"{redmine.env.url}/projects/{project['identifier']}"
    for deal_id in other:
        assert emulator.get("Opportunity", deal_id)["PSA_Project_Id__c"] is None

    # A second run finds only the echo of its own write-backs: nothing to create, update or write.
    emulator.reset_calls()
    harness.run()
    assert emulator.calls_snapshot() == {"token": 1, "queryAll": 1}
    second = harness.status()["runs"][0]["counts"]
    assert (second["created"], second["updated"], second["written"]) == (0, 0, 0)
    assert len(projects(redmine)) == 10

    # A changed Amount updates only the budget; a deal moved to Closed Won gets its project.
    changed, newly_won = won[3], other[0]
    emulator.update("Opportunity", changed, Amount=999999.99)
    emulator.update("Opportunity", newly_won, StageName="Closed Won")
    before = projects(redmine)
    harness.run()
    after = projects(redmine)
    assert len(after) == 11
    assert Decimal(after[changed]["values"]["Budget"]) == Decimal("999999.99")
    assert {k: v for k, v in after[changed]["values"].items() if k != "Budget"} == {
        k: v for k, v in before[changed]["values"].items() if k != "Budget"
    }
    assert after[changed]["name"] == before[changed]["name"]
    assert emulator.get("Opportunity", newly_won)["PSA_Project_Id__c"] == str(
        after[newly_won]["id"]
    )
    third = harness.status()["runs"][0]["counts"]
    assert (third["created"], third["updated"]) == (1, 1)
    updates = [e for e in harness.explain(changed)["events"] if e["action"] == "update"]
    assert [e["outcome"] for e in updates] == ["updated"]
    assert updates[0]["detail"]["changed"] == {"budget": "999999.99"}


def test_a_state_made_against_one_org_refuses_another(harness, emulator, redmine):
    from sync.emulator import Emulator

    emulator.create(
        "Opportunity",
        Name="Won",
        StageName="Closed Won",
        CloseDate=date(2026, 2, 1).isoformat(),
        Type="New Customer",
        Amount=5,
    )
    harness.run()
    with Emulator() as other_org:
        harness.emu = other_org
        harness.write_config()
        result = harness.run(expect=2)
    assert "was made against Salesforce org" in result.stderr
    assert emulator.org_id[:15] in result.stderr


def test_plan_shows_what_a_run_would_do_and_writes_nothing(harness, emulator, redmine):
    won, _ = seed_book(emulator)
    emulator.reset_calls()
    planned = harness.cli("plan", "--json")
    assert planned.returncode == 0, planned.stderr
    assert sorted(c["id"] for c in json.loads(planned.stdout)["creates"]) == sorted(won)
    assert emulator.calls_snapshot() == {"token": 1, "queryAll": 1}
    assert (
        not harness.state.exists() and projects(redmine) == {}
    )  # no state, no project, no write-back

    harness.run()
    emulator.update("Opportunity", won[0], Amount=1)
    plan = json.loads(harness.cli("plan", "--json").stdout)
    assert plan["creates"] == [] and plan["updates"] == [{"id": won[0], "changed": {"budget": "1"}}]
    assert len(harness.status()["runs"]) == 1  # plan left no run row
