"""Issue 23 end to end: what was sold becomes the project's plan, through the real CLI, the emulator
and a real Redmine — once, for no extra Salesforce call, and amended as the deal's line items
change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.exactly_once_support import run_until_clean
from tests.fixtures.redmine import issues, versions
from tests.fixtures.structure import sold, use_example_structure
from tests.fixtures.sync import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture
def structured(harness, tmp_path):
    return use_example_structure(harness, tmp_path)


def test_a_won_deal_with_line_items_becomes_a_planned_project_once_for_no_extra_call(
    structured, emulator, redmine
):
    deal, _, lines = sold(emulator)
    emulator.reset_calls()
    structured.run()
    # the line items came inside the deal's query; the amendments query is the one more
    assert emulator.calls_snapshot() == {"token": 1, "queryAll": 2, "composite": 1}
    [project] = redmine.projects()
    phases, tasks = versions(redmine, project["id"]), issues(redmine, project["id"])
    assert sorted(v["name"] for v in phases.values()) == ["Build", "Discovery", "Go-live"]
    consulting = tasks[f"{deal}/li:{lines['CONS-DAY']}"]
    assert (
        consulting["estimated_hours"] == 80.0
        and consulting["fixed_version"]["id"] == phases[f"{deal}/t:build"]["id"]
    )
    assert f"{deal}/li:{lines['LIC-ENT']}" not in tasks  # a licence is no service
    assert len(tasks) == 4 + 2  # the template's four, the two service lines
    structured.run()
    assert (len(issues(redmine, project["id"])), len(versions(redmine, project["id"]))) == (6, 3)


def test_amendments_add_a_task_flag_a_removed_one_and_move_an_estimate_until_time_is_logged(
    structured, emulator, redmine
):
    deal, entries, lines = sold(emulator)
    first = structured.run(expect=None)
    assert first.returncode == 0, structured.status()["quarantine"]
    [project] = redmine.projects()
    before = issues(redmine, project["id"])
    consulting, training = (before[f"{deal}/li:{lines[c]}"] for c in ("CONS-DAY", "TRAIN-DAY"))
    redmine.log_time(project["id"], 2, issue_id=training["id"])
    extra = emulator.add_line_item(deal, entries["TRAIN-DAY"], quantity=1)
    emulator.delete(lines["CONS-DAY"])
    emulator.update("OpportunityLineItem", lines["TRAIN-DAY"], Quantity=4)
    structured.run()
    after = issues(redmine, project["id"])
    assert f"{deal}/li:{extra}" in after and after[f"{deal}/li:{extra}"]["estimated_hours"] == 7.0
    flagged = redmine.call("GET", f"/issues/{consulting['id']}.json", include="journals").json()[
        "issue"
    ]
    assert flagged["status"]["id"] == consulting["status"]["id"]  # flagged, never closed or deleted
    assert any(
        "removed from the deal" in (j.get("notes") or "").lower() for j in flagged["journals"]
    )
    assert after[f"{deal}/li:{lines['TRAIN-DAY']}"]["estimated_hours"] == 14.0  # time logged: kept
    events = structured.explain(deal)
    assert "estimate-kept" in str(events) and "flagged" in str(events)


def test_an_edit_that_does_not_move_the_deal_is_read_by_the_amendments_query(
    structured, emulator, redmine
):
    deal, entries, _ = sold(emulator, lines=(("CONS-DAY", "Services", 1),))
    structured.run()
    # a new line stamped in the past with the deal untouched (an org that does not re-save deals)
    stamp = emulator.get("Opportunity", deal)["SystemModstamp"]
    extra = emulator.add_line_item(deal, entries["CONS-DAY"], quantity=2)
    emulator.update("Opportunity", deal, _stamp=stamp, Description="unchanged on purpose")
    emulator.reset_calls()
    structured.run()
    [project] = redmine.projects()
    assert f"{deal}/li:{extra}" in issues(redmine, project["id"])
    assert emulator.calls_snapshot()["queryAll"] == 2


def test_a_mapping_without_structure_makes_no_children_and_no_amendments_query(
    harness, emulator, redmine
):
    sold(emulator)
    emulator.reset_calls()
    harness.run()
    assert emulator.calls_snapshot() == {"token": 1, "queryAll": 1, "composite": 1}
    [project] = redmine.projects()
    assert issues(redmine, project["id"]) == {} and Path(harness.state).exists()


@pytest.mark.parametrize(
    "point, nth",
    [
        ("after-child-intent", 1),
        ("after-child-intent", 2),
        ("after-child-create", 1),
        ("after-child-create", 2),
        ("after-create", 1),
        ("after-intent", 1),
    ],
)
def test_sigkill_anywhere_in_a_plan_leaves_one_child_per_key(
    structured, emulator, redmine, point, nth
):
    """Phases first (the 1st pass of a child point), then tasks (the 2nd): a kill between the
    intents and the creates, or between the PSA's answer and the links, and the next run finishes
    the plan by looking the keys up — never a second version or issue."""
    deal, _, _ = sold(emulator)
    structured.extra_env["PSA_SYNC_CRASH_AT"] = f"{point}:{nth}"
    assert structured.cli("run").returncode == -9
    structured.extra_env.pop("PSA_SYNC_CRASH_AT")
    run_until_clean(structured)
    [project] = redmine.projects()
    listed = redmine.call(
        "GET", "/issues.json", project_id=project["id"], status_id="*", limit=100
    ).json()
    keys = [
        next(cf["value"] for cf in i["custom_fields"] if cf["name"] == "psa-sync key")
        for i in listed["issues"]
    ]
    assert len(keys) == len(set(keys)) == 6
    assert sorted(versions(redmine, project["id"])) == sorted(
        f"{deal}/t:{p}" for p in ("discovery", "build", "golive")
    )
    assert (
        len(redmine.call("GET", f"/projects/{project['id']}/versions.json").json()["versions"]) == 3
    )


def test_the_plans_progress_flows_back_to_the_deal(structured, emulator, redmine):
    deal, _, lines = sold(emulator)
    structured.run()
    [project] = redmine.projects()
    tasks = issues(redmine, project["id"])
    kickoff, requirements = tasks[f"{deal}/t:kickoff"], tasks[f"{deal}/t:requirements"]
    redmine.call("PUT", f"/issues/{kickoff['id']}.json", {"issue": {"status_id": 5}})
    redmine.log_time(project["id"], 3, issue_id=requirements["id"])
    structured.run()
    opp = emulator.get("Opportunity", deal)
    assert (opp["PSA_Tasks_Done__c"], opp["PSA_Tasks_Total__c"]) == (1, 6)
    assert (opp["PSA_Hours_Logged__c"], opp["PSA_Hours_Estimated__c"]) == (
        3,
        4 + 16 + 8 + 2 + 80 + 14,
    )
    assert opp["PSA_Current_Phase__c"] == "Discovery"  # requirements is still open
    redmine.call("PUT", f"/issues/{requirements['id']}.json", {"issue": {"status_id": 5}})
    structured.run()
    assert emulator.get("Opportunity", deal)["PSA_Current_Phase__c"] == "Build"


def test_check_verifies_the_plan_against_both_sides(structured, emulator, tmp_path):
    done = structured.cli("check", "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 0, report
    assert (
        emulator.calls_snapshot()["describe"] == 4
    )  # Opportunity, Account, OpportunityLineItem, Product2
    mapping = Path(structured.config.read_text().split("mapping: ")[1].split("\n")[0])
    mapping.write_text(
        mapping.read_text().replace(
            "hours_from: Estimated_Hours__c", "hours_from: Estimated_Hour__c"
        )
    )
    structured.options["task_tracker"] = "Task"
    structured.write_config(mapping=mapping)
    done = structured.cli("check", "--json")
    errors = [f for f in json.loads(done.stdout)["findings"] if f["level"] == "ERROR"]
    assert done.returncode == 2
    assert any(
        "Estimated_Hour__c" in f["message"] and f["key"] == "structure.line_items" for f in errors
    ), errors
    tracker = [f for f in errors if "no tracker 'Task'" in f["message"]]
    section = next(
        n for n, line in enumerate(mapping.read_text().splitlines(), 1) if line == "structure:"
    )
    assert tracker and tracker[0]["where"] == f"{mapping}:{section}", errors


def test_reconcile_reports_a_task_deleted_by_hand_and_repair_makes_it_again_once(
    structured, emulator, redmine
):
    deal, _, lines = sold(emulator)
    structured.run()
    [project] = redmine.projects()
    gone = issues(redmine, project["id"])[f"{deal}/t:uat"]
    redmine.call("DELETE", f"/issues/{gone['id']}.json")
    report = json.loads(structured.cli("reconcile", "--json").stdout)
    [missing] = report["drift"]["child-missing"]["examples"]
    assert missing["key"] == f"{deal}/t:uat"
    assert len(issues(redmine, project["id"])) == 5  # reported only
    repaired = structured.cli("reconcile", "--repair", "--json")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    again = issues(redmine, project["id"])
    assert len(again) == 6 and again[f"{deal}/t:uat"]["id"] != gone["id"]


@pytest.fixture
def tentative(harness, tmp_path):
    """mappings/examples/pipeline.yaml (tentative projects, a structure), templates beside it."""
    (tmp_path / "templates").mkdir()
    for template in (ROOT / "mappings" / "templates").glob("*.yaml"):
        (tmp_path / "templates" / template.name).write_text(template.read_text())
    mapping = tmp_path / "maps" / "pipeline.yaml"
    mapping.parent.mkdir()
    mapping.write_text((ROOT / "mappings" / "examples" / "pipeline.yaml").read_text())
    harness.write_config(mapping=mapping)
    return harness


def test_a_tentative_deal_is_planned_before_the_close_and_keeps_the_same_children_when_won(
    tentative, emulator, redmine
):
    account = emulator.create("Account", Name="Stark Logistics")
    deal = emulator.create(
        "Opportunity",
        Name="Robotics Pilot",
        AccountId=account,
        StageName="Id. Decision Makers",
        CloseDate="2026-03-02",
        End_Date__c="2026-09-30",
        Type="New Customer",
    )
    assert (
        emulator.get("Opportunity", deal)["Probability"] == 60
    )  # open, in the pipeline's criteria
    for code, quantity in (("CONS-DAY", 5), ("TRAIN-DAY", 2)):
        entry = emulator.add_product(code.title(), code=code, family="Services")
        emulator.add_line_item(deal, entry, quantity=quantity)
    tentative.run()
    [project] = redmine.projects()
    stage = next(cf["value"] for cf in project["custom_fields"] if cf["name"] == "Stage")
    planned, phases = issues(redmine, project["id"]), versions(redmine, project["id"])
    roles: dict[str, float] = {}
    for task in planned.values():
        role = next(cf["value"] for cf in task["custom_fields"] if cf["name"] == "Role")
        roles[role] = roles.get(role, 0) + task["estimated_hours"]
    assert stage == "Tentative" and roles == {
        "Consultant": 16 + 8 + 40,
        "Project Manager": 4 + 2,
        "Trainer": 14,
    }
    emulator.update("Opportunity", deal, StageName="Closed Won")
    tentative.run()
    [won] = redmine.projects()
    assert won["id"] == project["id"]
    assert next(cf["value"] for cf in won["custom_fields"] if cf["name"] == "Stage") == "Won"
    # the same children, none made again: the plan was made once, before the close
    assert {k: i["id"] for k, i in issues(redmine, project["id"]).items()} == {
        k: i["id"] for k, i in planned.items()
    }
    assert {k: v["id"] for k, v in versions(redmine, project["id"]).items()} == {
        k: v["id"] for k, v in phases.items()
    }


def test_plan_shows_what_a_linked_deals_next_pass_does_to_its_plan_and_does_nothing(
    structured, emulator, redmine
):
    deal, entries, lines = sold(emulator)
    structured.run()
    extra = emulator.add_line_item(deal, entries["TRAIN-DAY"], quantity=1)
    emulator.delete(lines["CONS-DAY"])
    emulator.update("OpportunityLineItem", lines["TRAIN-DAY"], Quantity=3)
    [project] = redmine.projects()
    before = len(issues(redmine, project["id"]))
    done = structured.cli("plan", "--json")
    [item] = json.loads(done.stdout)["children"]
    assert item["id"] == deal
    assert [c["key"] for c in item["create"]] == [f"{deal}/li:{extra}"]
    assert [c["key"] for c in item["flag"]] == [f"{deal}/li:{lines['CONS-DAY']}"]
    assert [(c["from"], c["to"]) for c in item["estimates"]] == [("14", "21")]
    assert len(issues(redmine, project["id"])) == before  # a plan writes nothing
    text = structured.cli("plan").stdout
    assert f"plan    {deal}  + task" in text and "flag 'Cons-Day'" in text
