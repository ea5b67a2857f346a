"""`psa-sync plan` lists exactly what the next `psa-sync run` does: both go through one page step."""

from __future__ import annotations

import json
import sqlite3

import pytest

pytestmark = pytest.mark.integration


def won(emulator, name, **fields):
    values = dict(Name=name, StageName="Closed Won", Amount=1000, CloseDate="2026-03-01", Type="New Customer")
    values.update(fields)
    return emulator.create("Opportunity", **values)


def planned_actions(plan: dict) -> set[tuple]:
    return ({("create", c["id"]) for c in plan["creates"]}
            | {("update", u["id"]) for u in plan["updates"]}
            | {("lifecycle", c["id"], c["status"]) for c in plan["lifecycle"]}
            | {("quarantine", q["id"]) for q in plan["quarantined"]}
            | {("repair", r["id"]) for r in plan["repairs"]})


def run_actions(state_file, run_id: int) -> set[tuple]:
    """The same actions, read from the events the run recorded in the state file."""
    db = sqlite3.connect(state_file)
    rows = db.execute("SELECT record_id, action, outcome, detail FROM events WHERE run_id = ?", [run_id])
    actions = set()
    for record_id, action, outcome, detail in rows:
        if (action, outcome) == ("create", "created"):
            actions.add(("create", record_id))
        elif (action, outcome) == ("update", "updated"):
            actions.add(("update", record_id))
        elif action == "lifecycle":
            actions.add(("lifecycle", record_id, json.loads(detail)["status"]))
        elif (action, outcome) == ("transform", "quarantined"):
            actions.add(("quarantine", record_id))
        elif (action, outcome) == ("repair", "queued"):
            actions.add(("repair", record_id))
    db.close()
    return actions


def test_the_plan_lists_one_for_one_the_actions_the_next_run_takes(harness, emulator, redmine):
    book = {name: won(emulator, name) for name in
            ("updated", "unchanged", "lost", "deleted", "reopened", "link-cleared", "write-back-pending")}
    emulator.faults.lock_rows([book["write-back-pending"]], times=1)  # its link write-back waits in the outbox
    harness.run()
    assert harness.status()["counts"]["outbox"] >= 1

    emulator.update("Opportunity", book["updated"], Amount=2000)
    emulator.update("Opportunity", book["unchanged"], Description="a field the mapping reads on create only")
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

    expected = {("create", new), ("update", book["updated"]), ("lifecycle", book["lost"], "Lost"),
                ("lifecycle", book["deleted"], "Deleted"), ("lifecycle", book["reopened"], "Reopened"),
                ("quarantine", bad), ("repair", book["link-cleared"])}
    assert planned_actions(plan) == expected
    assert run_actions(harness.state, last["id"]) == expected
    # The deal whose write-back waits in the outbox comes back through the query's extra Ids in both.
    assert plan["unchanged"] == last["counts"]["unchanged"]
