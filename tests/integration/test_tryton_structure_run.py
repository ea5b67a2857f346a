"""Issue 23 on Tryton, end to end through the CLI: a won deal's plan is made once as child works of
its project on the real Tryton, for the same Salesforce calls as on Redmine, and amended as its line
items change (README.md, "Project structure"; docs/architecture.md §14)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sync.connectors.psa.tryton.site import hours
from tests.fixtures.structure import sold
from tests.fixtures.sync import ROOT

pytestmark = pytest.mark.integration

EXAMPLE = ROOT / "mappings" / "examples" / "structure.yaml"
NOTE = "Removed from the deal in Salesforce: check before working on it."


@pytest.fixture
def structured(tryton_harness, tmp_path):
    """mappings/tryton.yaml with the example's ``structure:`` section, the templates beside it."""
    (tmp_path / "templates").mkdir()
    for template in (ROOT / "mappings" / "templates").glob("*.yaml"):
        (tmp_path / "templates" / template.name).write_text(template.read_text())
    section = EXAMPLE.read_text()
    mapping = tmp_path / "maps" / "tryton_structure.yaml"
    mapping.parent.mkdir()
    mapping.write_text(
        (ROOT / "mappings" / "tryton.yaml").read_text()
        + "\n"
        + section[section.index("\nstructure:") :]
    )
    tryton_harness.write_config(mapping=mapping)
    return tryton_harness


def works(tryton) -> dict[str, dict]:
    """Every child work psa-sync keyed (a child key holds a '/'), by key, as a Tryton user sees."""
    rows = tryton.call(
        "project.work",
        "search_read",
        [["salesforce_key", "like", "%/%"]],
        0,
        None,
        None,
        ["name", "type", "parent", "effort_duration", "comment", "salesforce_key"],
    )
    return {row["salesforce_key"]: row for row in rows}


def deal_projects(tryton) -> list[dict]:
    return [p for p in tryton.projects() if p["salesforce_key"] and "/" not in p["salesforce_key"]]


def test_a_won_deal_becomes_a_planned_tryton_project_once_for_the_calls_redmine_costs(
    structured, emulator, tryton
):
    deal, _, lines = sold(emulator)
    emulator.reset_calls()
    structured.run()
    # the line items came inside the deal's query; the amendments query is the one more
    assert emulator.calls_snapshot() == {"token": 1, "queryAll": 2, "composite": 1}
    [project] = deal_projects(tryton)
    children = works(tryton)
    phases = {k: w for k, w in children.items() if w["type"] == "project"}
    assert sorted(w["name"] for w in phases.values()) == ["Build", "Discovery", "Go-live"]
    assert {w["parent"] for w in phases.values()} == {
        project["id"]
    }  # sub-projects of the deal's project
    consulting = children[f"{deal}/li:{lines['CONS-DAY']}"]
    assert consulting["type"] == "task" and hours(consulting["effort_duration"]) == Decimal(80)
    assert (
        consulting["parent"] == phases[f"{deal}/t:build"]["id"]
        and "Role: Consultant" in consulting["comment"]
    )
    assert f"{deal}/li:{lines['LIC-ENT']}" not in children  # a licence is no service
    assert (
        len(children) == 3 + 4 + 2
    )  # three phases, the template's four tasks, the two service lines
    again = structured.run()
    assert works(tryton).keys() == children.keys() and len(deal_projects(tryton)) == 1, again.stdout


def test_amendments_on_tryton_add_a_task_flag_a_removed_one_and_move_an_estimate_until_time_logged(
    structured, emulator, tryton
):
    deal, entries, lines = sold(emulator)
    second = emulator.add_line_item(
        deal, entries["TRAIN-DAY"], quantity=1
    )  # a second training line, 7 h
    first = structured.run(expect=None)
    assert first.returncode == 0, structured.status()["quarantine"]
    before = works(tryton)
    training = before[f"{deal}/li:{lines['TRAIN-DAY']}"]
    tryton.log_time(training["id"], 2)  # a consultant logged time: the estimate is Tryton's now
    extra = emulator.add_line_item(deal, entries["TRAIN-DAY"], quantity=1)
    emulator.delete(lines["CONS-DAY"])
    emulator.update("OpportunityLineItem", lines["TRAIN-DAY"], Quantity=4)
    emulator.update("OpportunityLineItem", second, Quantity=3)
    structured.run()
    after = works(tryton)
    assert hours(after[f"{deal}/li:{extra}"]["effort_duration"]) == Decimal(
        7
    )  # a new line item: a new task
    removed = after[f"{deal}/li:{lines['CONS-DAY']}"]
    assert NOTE in removed["comment"] and hours(removed["effort_duration"]) == Decimal(
        80
    )  # flagged, kept
    assert hours(after[f"{deal}/li:{lines['TRAIN-DAY']}"]["effort_duration"]) == Decimal(
        14
    )  # time logged: kept
    assert hours(after[f"{deal}/li:{second}"]["effort_duration"]) == Decimal(
        21
    )  # no time logged: follows
    assert len(after) == len(before) + 1
    events = str(structured.explain(deal))
    assert "estimate-kept" in events and "estimate-moved" in events and "flagged" in events
    structured.run()  # nothing more: the note is not added twice, no task made again
    assert works(tryton)[f"{deal}/li:{lines['CONS-DAY']}"]["comment"].count(NOTE) == 1
    assert len(works(tryton)) == len(after)
