"""Issue 23's bad input on a real Redmine, through the CLI (README.md, "Bad input, bad answers, bad
disks"): a PSA without the key custom field or the task tracker, and a child Redmine refuses. Each
is reported by `check` or quarantines its deal at stage `structure` with the words to fix it; the
project stays, the rest of the page goes on, and once fixed `retry --id` finishes the plan without
making any child twice."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.redmine import issues, versions
from tests.fixtures.structure import sold
from tests.fixtures.sync import ROOT

pytestmark = pytest.mark.integration


def planned(harness, tmp_path, **options):
    """The example structure mapping with its templates, and ``options`` under psa.options."""
    (tmp_path / "templates").mkdir(exist_ok=True)
    for template in (ROOT / "mappings" / "templates").glob("*.yaml"):
        (tmp_path / "templates" / template.name).write_text(template.read_text())
    mapping = tmp_path / "maps" / "structure.yaml"
    mapping.parent.mkdir(exist_ok=True)
    mapping.write_text((ROOT / "mappings" / "examples" / "structure.yaml").read_text())
    harness.options.clear()
    harness.options.update(options)
    harness.write_config(mapping=mapping)
    return harness


def quarantined(harness) -> dict[str, dict]:
    return {q["opportunity_id"]: q for q in harness.status()["quarantine"]}


@pytest.mark.parametrize(
    "option, value, says",
    [
        (
            "child_key_field",
            "Salesforce key",
            "Redmine has no issue custom field named 'Salesforce key': create it "
            "(Administration > Custom fields > Issues",
        ),
        ("task_tracker", "Task", "psa.options.task_tracker: Redmine has no tracker 'Task'"),
    ],
    ids=["missing-key-field", "missing-tracker"],
)
def test_a_redmine_without_the_key_field_or_tracker_is_named_by_check_and_quarantines_at_structure(
    harness, emulator, redmine, tmp_path, option, value, says
):
    deal, _, _ = sold(emulator)
    planned(harness, tmp_path, **{option: value})
    checked = harness.cli("check", "--json")
    assert checked.returncode == 2
    assert any(
        says in f["message"]
        for f in json.loads(checked.stdout)["findings"]
        if f["level"] == "ERROR"
    )
    harness.run(expect=1)
    [project] = redmine.projects()  # the project is made; its plan waits
    [row] = quarantined(harness).values()
    assert (row["opportunity_id"], row["stage"]) == (deal, "structure") and says in row["error"], (
        row
    )
    assert issues(redmine, project["id"]) == {}  # never a task without its key
    phases = versions(redmine, project["id"])
    planned(harness, tmp_path)  # the administrator fixed the option (or made the field)
    retried = harness.cli("retry", "--id", deal)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert len(issues(redmine, project["id"])) == 6 and quarantined(harness) == {}
    again = versions(redmine, project["id"])
    assert len(again) == 3 and all(
        again[k]["id"] == v["id"] for k, v in phases.items()
    )  # none made twice


def test_a_child_redmine_refuses_quarantines_its_deal_at_structure_and_the_rest_of_the_page_goes_on(
    harness, emulator, redmine, tmp_path
):
    planned(harness, tmp_path)
    one = (("CONS-DAY", "Services", 1),)
    first, first_entries, _ = sold(emulator, lines=one)
    second, second_entries, _ = sold(emulator, lines=one)
    harness.run()
    projects = {
        next(
            cf["value"] for cf in p["custom_fields"] if cf["name"] == "Salesforce Opportunity Id"
        ): p["id"]
        for p in redmine.projects()
    }
    build = versions(redmine, projects[first])[f"{first}/t:build"]
    redmine.call(
        "PUT", f"/versions/{build['id']}.json", {"version": {"status": "closed"}}
    )  # a person closed it
    refused = emulator.add_line_item(first, first_entries["CONS-DAY"], quantity=2)
    made = emulator.add_line_item(second, second_entries["CONS-DAY"], quantity=2)
    harness.run(expect=1)
    [row] = quarantined(harness).values()
    assert (row["opportunity_id"], row["stage"]) == (first, "structure"), row
    assert (
        f"{first}/li:{refused}" in row["error"]
        and "Target version is not included in the list" in row["error"]
    )
    assert f"{second}/li:{made}" in issues(
        redmine, projects[second]
    )  # the rest of the page went on
    assert f"{first}/li:{refused}" not in issues(redmine, projects[first])
    assert harness.run().returncode == 0  # the same trouble again is no new failure
    redmine.call("PUT", f"/versions/{build['id']}.json", {"version": {"status": "open"}})
    retried = harness.cli("retry", "--id", first)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert (
        f"{first}/li:{refused}" in issues(redmine, projects[first]) and quarantined(harness) == {}
    )
    assert (
        len(issues(redmine, projects[first])) == 4 + 2
    )  # the template's four, the two lines: once each
