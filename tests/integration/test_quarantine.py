"""Issue 4: bad deals are quarantined with their reason while the page goes on; `retry`."""

import textwrap

import pytest

pytestmark = pytest.mark.integration

MAPPING = """
version: 1
source: {object: Opportunity, criteria: "IsWon = true", start_date: 2026-01-01, lookback: 10m}
key: Id
project:
  fields:
    name: {template: "{Name} {Scope__c}", max_length: 255}
    customer: Account.Name
    budget: {from: Budget_Text__c, type: decimal}
    start_date: {from: CloseDate, type: date}
    billing_type:
      from: Type
      map: {"New Customer": "Fixed Fee", "Existing Customer - Upgrade": "Time & Materials"}
      unmapped: error
      required: true
writeback:
  PSA_Project_Id__c: project.id
  PSA_Project_URL__c: project.url
"""


def project_names(redmine) -> dict[str, str]:
    return {p["identifier"]: p["name"] for p in redmine.projects()}


def test_bad_deals_are_quarantined_and_the_page_goes_on_then_retry_fixes_one(
    harness, emulator, redmine, tmp_path
):
    emulator.register_field("Opportunity", "Scope__c", "textarea", length=32768)
    emulator.register_field("Opportunity", "Budget_Text__c", "string")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(textwrap.dedent(MAPPING))
    harness.write_config(mapping=mapping)

    def deal(name, **fields):
        values = dict(
            Name=name,
            StageName="Closed Won",
            CloseDate="2026-03-01",
            Type="New Customer",
            Budget_Text__c="1000.50",
            Scope__c="",
        )
        values.update(fields)
        return emulator.create("Opportunity", **values)

    good = deal("Good one")
    no_billing = deal("No billing type", Type=None)
    bad_amount = deal("Bad amount", Budget_Text__c="12,5 k")
    long_name = deal("Long", Scope__c="x" * 10_000)
    also_good = deal("Good two")

    result = harness.run(expect=1)
    assert "quarantined 2" in result.stdout

    names = project_names(redmine)
    made = {i for i in names if i.startswith("sf-")}
    assert made == {"sf-" + d.lower() for d in (good, long_name, also_good)}
    assert len(names["sf-" + long_name.lower()]) == 255
    quarantine = {q["opportunity_id"]: q for q in harness.status()["quarantine"]}
    assert set(quarantine) == {no_billing, bad_amount}
    assert (
        "billing_type" in quarantine[no_billing]["error"]
        and "required" in quarantine[no_billing]["error"]
    )
    assert (
        "budget" in quarantine[bad_amount]["error"] and "12,5 k" in quarantine[bad_amount]["error"]
    )

    # The old quarantine alone does not fail the next run.
    harness.run(expect=0)

    emulator.update("Opportunity", no_billing, Type="Existing Customer - Upgrade")
    retried = harness.cli("retry", "--id", no_billing)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "sf-" + no_billing.lower() in project_names(redmine)
    assert {q["opportunity_id"] for q in harness.status()["quarantine"]} == {bad_amount}
    assert emulator.get("Opportunity", no_billing)["PSA_Project_Id__c"]


def test_a_locked_row_keeps_its_link_write_back_in_the_outbox_says_so_and_the_next_run_sends_it(
    harness, emulator, redmine
):
    locked, free = (
        emulator.create(
            "Opportunity",
            Name=name,
            StageName="Closed Won",
            CloseDate="2026-03-01",
            Type="New Customer",
            Amount=1000,
        )
        for name in ("Locked", "Free")
    )
    emulator.faults.lock_rows(
        [locked], times=1
    )  # someone else holds the row during this run's write-back

    first = harness.run(expect=0)  # a row lock is transient: not a failure of the run

    assert "stay in the outbox" in first.stderr
    latest = harness.status()
    assert latest["counts"]["outbox"] == 1 and latest["runs"][0]["counts"]["written_later"] == 1
    assert emulator.get("Opportunity", locked)["PSA_Project_Id__c"] is None
    assert emulator.get("Opportunity", free)["PSA_Project_Id__c"]

    harness.run(expect=0)

    project = redmine.project("sf-" + locked.lower())
    assert emulator.get("Opportunity", locked)["PSA_Project_Id__c"] == str(project["id"])
    assert harness.status()["counts"]["outbox"] == 0
