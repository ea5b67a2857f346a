"""`psa-sync plan` lists exactly what the next `psa-sync run` does: both use one page step."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.runs import planned_actions, run_actions

pytestmark = pytest.mark.integration


def won(emulator, name, **fields):
    values = dict(
        Name=name, StageName="Closed Won", Amount=1000, CloseDate="2026-03-01", Type="New Customer"
    )
    values.update(fields)
    return emulator.create("Opportunity", **values)


def test_the_plan_lists_one_for_one_the_actions_the_next_run_takes(harness, emulator, redmine):
    book = {
        name: won(emulator, name)
        for name in (
            "updated",
            "unchanged",
            "lost",
            "deleted",
            "reopened",
            "link-cleared",
            "write-back-pending",
        )
    }
    emulator.faults.lock_rows(
        [book["write-back-pending"]], times=1
    )  # its link write-back waits in the outbox
    harness.run()
    assert harness.status()["counts"]["outbox"] >= 1

    emulator.update("Opportunity", book["updated"], Amount=2000)
    emulator.update(
        "Opportunity", book["unchanged"], Description="a field the mapping reads on create only"
    )
    emulator.update("Opportunity", book["lost"], StageName="Closed Lost")
    emulator.delete(book["deleted"])
    emulator.update("Opportunity", book["reopened"], StageName="Negotiation/Review")
    emulator.update("Opportunity", book["link-cleared"], PSA_Project_Id__c=None)
    new = won(emulator, "new")
    bad = won(emulator, "bad", Type="Barter")  # not in the mapping's value map: quarantined

    planned = harness.cli("plan", "--json")
    assert planned.returncode == 1, planned.stderr  # exit 1: the plan has a quarantined deal
    plan = json.loads(planned.stdout)
    harness.run(expect=1)
    last = harness.status()["runs"][0]

    expected = {
        ("create", new),
        ("update", book["updated"]),
        ("lifecycle", book["lost"], "Lost"),
        ("lifecycle", book["deleted"], "Deleted"),
        ("lifecycle", book["reopened"], "Reopened"),
        ("quarantine", bad),
        ("repair", book["link-cleared"]),
    }
    assert planned_actions(plan) == expected
    assert run_actions(harness.state, last["id"]) == expected
    # The deal whose write-back waits in the outbox comes back by the query's extra Ids in both.
    assert plan["unchanged"] == last["counts"]["unchanged"]
