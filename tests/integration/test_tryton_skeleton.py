"""The walking skeleton on Tryton: a won deal becomes exactly one Tryton project with its party,
invoice method, dates and revenue; hours, progress and cost come back to the deal; Closed Lost with
``on_unwon: close`` sets the project Done. Through the real CLI, mappings/tryton.yaml."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.fixtures.sync import line_of

pytestmark = pytest.mark.integration

METHOD = {"New Customer": "manual", "Existing Customer - Upgrade": "timesheet"}


def by_key(tryton) -> dict[str, dict]:
    return {p["salesforce_key"]: p for p in tryton.projects() if p["salesforce_key"]}


def seed(emu):
    accounts = [emu.create("Account", Name=name) for name in ("Acme Corp", "Globex")]
    won, other = [], []
    for n in range(6):
        is_won = n % 3 != 2
        deal = emu.create(
            "Opportunity",
            Name=f"Deal {n:02d}",
            AccountId=accounts[n % 2],
            Amount=10000 + n * 1000.5,
            CloseDate=f"2026-03-{n + 1:02d}",
            End_Date__c=f"2026-09-{n + 1:02d}",
            StageName="Closed Won" if is_won else "Prospecting",
            Type="New Customer" if n % 2 else "Existing Customer - Upgrade",
        )
        (won if is_won else other).append(deal)
    return won, other


def test_won_deals_become_tryton_projects_and_delivery_comes_back(tryton_harness, emulator, tryton):
    harness = tryton_harness
    won, other = seed(emulator)
    emulator.reset_calls()
    harness.run()
    # Salesforce pays what it pays with Redmine: one token, one query page, one collections call.
    assert emulator.calls_snapshot() == {"token": 1, "queryAll": 1, "composite": 1}

    made = by_key(tryton)
    assert sorted(made) == sorted(won)
    for deal_id in won:
        deal = emulator.get("Opportunity", deal_id)
        project = made[deal_id]
        account = emulator.get("Account", deal["AccountId"])["Name"]
        assert project["name"] == f"{account} - {deal['Name']}"
        assert project["party."]["name"] == account  # a party, not a string
        assert project["project_invoice_method"] == METHOD[deal["Type"]]
        assert project["list_price"] == Decimal(str(deal["Amount"]))
        assert project["revenue"] == Decimal(
            str(deal["Amount"])
        )  # project_revenue: no hourly product
        assert project["timesheet_start_date"] == dt.date.fromisoformat(deal["CloseDate"])
        assert project["timesheet_end_date"] == dt.date.fromisoformat(deal["End_Date__c"])
        assert deal["PSA_Project_Id__c"] == str(project["id"])
        assert deal["PSA_Project_URL__c"].endswith(f"/#psa/model/project.work/{project['id']}")
    assert all(emulator.get("Opportunity", d)["PSA_Project_Id__c"] is None for d in other)
    parties = {p["party."]["id"] for p in made.values()}
    assert len(parties) == 2  # one party per Account, found again for its second deal

    # A person logs 7.5 h on a timesheet line and sets progress to 40 %; the cost follows (60/h).
    first = made[won[0]]
    tryton.log_time(first["id"], 7.5)
    tryton.set_progress(first["id"], 40)
    harness.run()
    deal = emulator.get("Opportunity", won[0])
    assert (deal["PSA_Hours_Spent__c"], deal["PSA_Percent_Complete__c"]) == (7.5, 40)
    assert (deal["PSA_Cost__c"], deal["PSA_Revenue__c"]) == (450, float(first["revenue"]))
    assert deal["PSA_Status__c"] == "active"

    # A second run has nothing to do; a won deal gone Closed Lost gets its project Done.
    harness.run()
    counts = harness.status()["runs"][0]["counts"]
    assert (counts["created"], counts["updated"], counts["written"]) == (0, 0, 0)
    emulator.update("Opportunity", won[1], StageName="Closed Lost")
    harness.run()
    lost = by_key(tryton)[won[1]]
    assert (lost["status."]["name"], lost["progress"]) == ("Done", 1.0)
    assert by_key(tryton)[won[0]]["status."]["name"] == "Open"
    assert len(by_key(tryton)) == len(won)


def test_check_names_a_value_outside_the_invoice_methods_and_a_missing_module(
    tryton_harness, tryton, tmp_path
):
    harness = tryton_harness
    text = harness.mapping.read_text().replace(
        '"New Customer": manual', '"New Customer": fixed_fee'
    )
    mapping = tmp_path / "tryton-bad.yaml"
    mapping.write_text(text + "\n")
    harness.write_config(mapping=mapping)
    result = harness.cli("check")
    assert result.returncode == 2, result.stdout + result.stderr
    line = line_of(mapping, '"New Customer": fixed_fee')
    assert f"{mapping}:{line}" in result.stdout + result.stderr
    assert (
        "'fixed_fee' is not a value of the PSA list 'project_invoice_method' "
        "(allowed: manual, timesheet, progress, effort)"
    ) in result.stdout + result.stderr


def test_check_says_which_tryton_module_a_missing_field_needs(tryton):
    from sync.connectors.psa.tryton.site import TrytonSite
    from sync.ops.check.psa import _no_place

    class Site(TrytonSite):
        def fields(self):  # a Tryton without project_invoice
            return {k: v for k, v in super().fields().items() if k != "project_invoice_method"}

    site = Site(tryton.rpc, "sf-", True)
    assert "billing_type" not in site.describe()
    message = _no_place("billing_type", "tryton", site.describe(), site)
    assert message == (
        "project field 'billing_type' has no place in the PSA: Tryton at "
        f"{tryton.env.url} has no project.work.project_invoice_method: activate the Tryton "
        "module project_invoice"
    )


def test_check_and_run_on_a_tryton_without_psa_sync_s_module_say_what_to_install(
    tryton_harness, emulator, tryton
):
    harness = tryton_harness
    seed(emulator)
    harness.extra_env["TRYTON_URL"] = (
        tryton.env.nokey_url
    )  # same server, psa_sync_key not activated
    harness.write_config()
    needs = (
        "has no field project.work.salesforce_key: install psa-sync's Tryton module psa_sync_key "
        '(README.md, "Tryton"'
    )
    checked = harness.cli("check")
    assert checked.returncode == 2 and needs in checked.stdout + checked.stderr, (
        checked.stdout + checked.stderr
    )
    ran = harness.run(expect=2)
    assert needs in ran.stderr
    assert tryton.count() == 0
    from sync.connectors.psa.tryton.site import (
        MODULE_DIR,
    )  # the installed package's copy, not a checkout's path

    assert f"copy {MODULE_DIR}, which psa-sync's installed package ships" in ran.stderr
    assert (MODULE_DIR / "tryton.cfg").is_file() and (MODULE_DIR / "message.xml").is_file()


def test_the_psa_sync_key_module_makes_the_database_refuse_a_second_project_with_a_key(tryton):
    from sync.connectors.psa.tryton.rpc import TrytonError

    first = tryton.create_project("Made by psa-sync", key="006AK00000AbCdEQAA")
    with pytest.raises(TrytonError, match="Another project already carries this Salesforce key"):
        tryton.create_project("Made by a person, same key", key="006AK00000AbCdEQAA")
    copy = tryton.copy(first)  # a copy is a new project: it does not carry the key
    keys = {p["id"]: p["salesforce_key"] for p in tryton.projects()}
    assert keys == {first: "006AK00000AbCdEQAA", copy: None}
