"""Issue 15 (items 1, 2): the pipeline stream and tentative projects, on the emulator and Redmine.

A deal at Probability 60 becomes a tentative project; Closed Won turns the SAME project Won (one
project throughout, by key and by id); a lost deal and one whose probability drops follow their
policies; a SIGKILL inside the tentative → won transition leaves one project; the stream costs no
Salesforce call.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

import pytest

from tests.fixtures.exactly_once_support import KILLED, run_until_clean, run_with_crash
from tests.fixtures.sync import mapping_variant

pytestmark = pytest.mark.integration

PIPELINE = """
pipeline:
  criteria: "IsClosed = false AND Probability >= 50"
  create_projects: true
  on_drop: {on_drop}
"""
CLOSED = 5  # Redmine's project status "closed"


@pytest.fixture
def pipeline_harness(harness, tmp_path):
    def configure(on_drop: str = "flag", create_projects: bool = True):
        path = mapping_variant(tmp_path)
        section = PIPELINE.format(on_drop=on_drop)
        if not create_projects:
            section = section.replace("create_projects: true", "create_projects: false")
        path.write_text(path.read_text() + section)
        harness.mapping = path
        harness.write_config()
        return harness

    return configure


def open_deal(emu, name="Rollout", probability=60, **fields):
    account = emu.create("Account", Name="Acme Corp")
    values = dict(
        Name=name,
        AccountId=account,
        StageName="Id. Decision Makers",
        Probability=probability,
        Amount=80000,
        CloseDate="2026-05-01",
        Type="New Customer",
        Description="Scope as proposed",
    )
    values.update(fields)
    return emu.create("Opportunity", **values)


def projects_with_key(redmine, deal_id):
    """Every project that carries the deal: by psa-sync's identifier or by the key field's value."""
    key_field = redmine.cf_id("Salesforce Opportunity Id")
    return [
        p
        for p in redmine.projects()
        if p["identifier"] == "sf-" + deal_id.lower()
        or any(
            c["id"] == key_field and c.get("value") == deal_id for c in p.get("custom_fields", [])
        )
    ]


def pipeline_row(harness, deal_id):
    with sqlite3.connect(harness.state) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM pipeline WHERE record_id = ?", [deal_id]).fetchone()
    return dict(row) if row else None


def last_counts(harness):
    return harness.status()["runs"][0]["counts"]


def test_a_pipeline_deal_becomes_a_tentative_project_and_closed_won_turns_the_same_project_won(
    pipeline_harness, emulator, redmine
):
    harness = pipeline_harness()
    deal = open_deal(emulator)
    emulator.reset_calls()
    harness.run()
    assert emulator.calls_snapshot() == {
        "token": 1,
        "queryAll": 1,
        "composite": 1,
    }  # one query, one write-back
    [project] = projects_with_key(redmine, deal)
    assert redmine.custom_value(project["id"], "Stage") == "Tentative"
    assert redmine.custom_value(project["id"], "Salesforce Opportunity Id") == deal
    assert harness.explain(deal)["link"]["salesforce_status"] == "Tentative"
    row = pipeline_row(harness, deal)
    assert (row["status"], row["stage"], row["probability"], row["amount"], row["close_date"]) == (
        "open",
        "Id. Decision Makers",
        60.0,
        80000.0,
        "2026-05-01",
    )
    assert emulator.get("Opportunity", deal)["PSA_Project_Id__c"] == str(project["id"])

    emulator.update("Opportunity", deal, StageName="Closed Won", Amount=95000)
    harness.run()
    [after] = projects_with_key(redmine, deal)
    assert after["id"] == project["id"]  # the same project, never a second one
    assert redmine.custom_value(after["id"], "Stage") == "Won"
    assert redmine.custom_value(after["id"], "Salesforce status") == "Won"
    assert Decimal(redmine.custom_value(after["id"], "Budget")) == Decimal(
        "95000"
    )  # CRM-owned fields refreshed
    assert harness.explain(deal)["link"]["salesforce_status"] == "Won"
    assert pipeline_row(harness, deal)["status"] == "won"
    assert harness.status()["pipeline"] == {"won": 1}
    assert "pipeline  won 1" in harness.cli("status").stdout
    assert (
        "pipeline: won — stage Closed Won, probability 100.0" in harness.cli("explain", deal).stdout
    )

    harness.run()  # and the next run has nothing to do
    counts = last_counts(harness)
    assert (counts["created"], counts["updated"], counts["lifecycle"]) == (0, 0, 0)


def test_a_lost_deal_and_a_dropped_deal_follow_their_policies(pipeline_harness, emulator, redmine):
    harness = pipeline_harness(on_drop="close")
    lost, dropped = (
        open_deal(emulator, "Lost one"),
        open_deal(emulator, "Dropped one", probability=70),
    )
    harness.run()
    [lost_project], [dropped_project] = (
        projects_with_key(redmine, lost),
        projects_with_key(redmine, dropped),
    )

    emulator.update("Opportunity", lost, StageName="Closed Lost")
    emulator.update("Opportunity", dropped, Probability=20)
    harness.run()
    assert (
        redmine.custom_value(lost_project["id"], "Salesforce status") == "Lost"
    )  # lifecycle.on_unwon: flag
    assert redmine.custom_value(lost_project["id"], "Stage") == "Lost"
    assert redmine.project(lost_project["id"])["status"] != CLOSED
    assert (
        redmine.custom_value(dropped_project["id"], "Salesforce status") == "Dropped"
    )  # pipeline.on_drop: close
    assert redmine.project(dropped_project["id"])["status"] == CLOSED
    assert (pipeline_row(harness, lost)["status"], pipeline_row(harness, dropped)["status"]) == (
        "lost",
        "dropped",
    )

    emulator.update(
        "Opportunity", dropped, Probability=75
    )  # back in the pipeline: the same project, reopened
    harness.run()
    assert [p["id"] for p in projects_with_key(redmine, dropped)] == [dropped_project["id"]]
    assert redmine.project(dropped_project["id"])["status"] != CLOSED
    assert redmine.custom_value(dropped_project["id"], "Salesforce status") == "Tentative"
    assert pipeline_row(harness, dropped)["status"] == "open"
    assert len(projects_with_key(redmine, lost)) == 1


def test_without_tentative_projects_the_stream_fills_the_table_and_sees_deals_leave_it(
    pipeline_harness, emulator, redmine
):
    harness = pipeline_harness(create_projects=False)
    stays, drops, lost = (
        open_deal(emulator, "Stays"),
        open_deal(emulator, "Drops"),
        open_deal(emulator, "Lost"),
    )
    harness.run()
    assert projects_with_key(redmine, stays) == []
    assert harness.status()["pipeline"] == {"open": 3}
    # no link field brings these back: the query names the open deals of the table
    emulator.update("Opportunity", drops, Probability=10)
    emulator.update("Opportunity", lost, StageName="Closed Lost")
    harness.run()
    assert harness.status()["pipeline"] == {"open": 1, "dropped": 1, "lost": 1}
    assert pipeline_row(harness, stays)["status"] == "open"


@pytest.mark.subprocess
@pytest.mark.parametrize("point", ["after-update", "after-lifecycle"])
def test_a_kill_inside_the_tentative_to_won_transition_leaves_one_project(
    pipeline_harness, emulator, redmine, point
):
    harness = pipeline_harness()
    deal = open_deal(emulator)
    harness.run()
    [project] = projects_with_key(redmine, deal)
    emulator.update("Opportunity", deal, StageName="Closed Won", Amount=99000)
    # after-update: the PSA holds the stage Won, the snapshot is not committed; after-lifecycle: the
    # status is flagged Won, the link still says Tentative
    assert run_with_crash(harness, point, 1) == KILLED
    assert redmine.custom_value(project["id"], "Stage") == "Won"
    run_until_clean(harness)
    [after] = projects_with_key(redmine, deal)
    assert after["id"] == project["id"]
    assert (
        redmine.custom_value(after["id"], "Stage"),
        redmine.custom_value(after["id"], "Salesforce status"),
    ) == ("Won", "Won")
    assert Decimal(redmine.custom_value(after["id"], "Budget")) == Decimal("99000")
    assert harness.explain(deal)["link"]["salesforce_status"] == "Won"
    assert pipeline_row(harness, deal)["status"] == "won"
    harness.run()
    counts = last_counts(harness)
    assert (counts["created"], counts["updated"], counts["lifecycle"], counts["written"]) == (
        0,
        0,
        0,
        0,
    )


def test_check_reports_a_missing_stage_field(pipeline_harness, tmp_path):
    harness = pipeline_harness()
    fine = harness.cli(
        "check"
    )  # Probability, StageName … exist on Opportunity; Redmine has "Stage"
    assert fine.returncode == 0, fine.stdout + fine.stderr
    path = harness.mapping
    path.write_text(path.read_text() + "  stage_field: phase\n")
    result = harness.cli("check")
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "pipeline.stage_field: pipeline.create_projects needs a project field 'phase'"
        in result.stdout + result.stderr
    )


def test_the_plan_lists_the_pipeline_actions_the_next_run_takes(
    pipeline_harness, emulator, redmine
):
    from tests.fixtures.runs import planned_actions, run_actions

    harness = pipeline_harness()
    wins, drops, stays = (
        open_deal(emulator, "Wins"),
        open_deal(emulator, "Drops"),
        open_deal(emulator, "Stays"),
    )
    harness.run()
    emulator.update("Opportunity", wins, StageName="Closed Won")
    emulator.update("Opportunity", drops, Probability=5)
    emulator.update("Opportunity", stays, Amount=81000)
    fresh = open_deal(emulator, "Fresh", probability=90)

    planned = harness.cli("plan", "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    harness.run()
    last = harness.status()["runs"][0]
    expected = {
        ("create", fresh),
        ("update", wins),
        ("lifecycle", wins, "Won"),
        ("update", stays),
        ("lifecycle", drops, "Dropped"),
    }
    assert planned_actions(plan) == expected
    assert run_actions(harness.state, last["id"]) == expected
    with sqlite3.connect(harness.state) as db:
        written = set(
            db.execute("SELECT record_id, status FROM pipeline WHERE run_id = ?", [last["id"]])
        )
    assert (
        {(p["id"], p["status"]) for p in plan["pipeline"]}
        == written
        == {(wins, "won"), (drops, "dropped"), (stays, "open"), (fresh, "open")}
    )


@pytest.mark.subprocess
@pytest.mark.parametrize("point", ["after-intent", "after-create"])
def test_a_kill_inside_a_tentative_create_leaves_one_tentative_project(
    pipeline_harness, emulator, redmine, point
):
    harness = pipeline_harness()
    deal = open_deal(emulator)
    assert run_with_crash(harness, point, 1) == KILLED
    run_until_clean(harness)
    [project] = projects_with_key(redmine, deal)
    assert redmine.custom_value(project["id"], "Stage") == "Tentative"
    assert (
        harness.explain(deal)["link"]["salesforce_status"] == "Tentative"
    )  # recovery links it as tentative
    assert emulator.get("Opportunity", deal)["PSA_Project_Id__c"] == str(project["id"])
    harness.run()
    counts = last_counts(harness)
    assert (counts["created"], counts["updated"], counts["lifecycle"], counts["written"]) == (
        0,
        0,
        0,
        0,
    )


def test_more_watched_deals_than_a_query_may_name_are_still_seen_leaving(
    emulator, tmp_path, monkeypatch
):
    """Past the Ids one query may name, the query reads every deal of the window that is not won:
    the dropped and the lost deal are seen leaving, still in one query."""
    from types import SimpleNamespace

    from sync.extract import incremental
    from tests.fixtures.fake_psa import FakePsa
    from tests.fixtures.runs import dry_run
    from tests.fixtures.sync import SyncHarness

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(incremental, "MAX_IDS_PER_QUERY", 1)
    path = mapping_variant(tmp_path, ("lookback: 10m", "lookback: 1s"))
    path.write_text(path.read_text() + PIPELINE.format(on_drop="flag").replace("true", "false"))
    dry = SimpleNamespace(env=SimpleNamespace(url="http://127.0.0.1:9", api_key="not-a-key"))
    harness = SyncHarness(emu=emulator, redmine=dry, workdir=tmp_path, mapping=path)
    harness.write_config(schedule={"backsync_interval": "1h", "hours_interval": "1h"})
    stays, drops, lost = (
        open_deal(emulator, "Stays"),
        open_deal(emulator, "Drops"),
        open_deal(emulator, "Lost"),
    )
    psa = FakePsa("http://127.0.0.1:9")
    assert dry_run(harness, psa)["counts"]["pipeline_open"] == 3
    emulator.update("Opportunity", drops, Probability=10)
    emulator.update("Opportunity", lost, StageName="Closed Lost")
    second = dry_run(harness, psa)
    assert second["calls"] == {"token": 1, "queryAll": 1}
    assert (second["counts"]["pipeline_dropped"], second["counts"]["pipeline_lost"]) == (1, 1)
    assert pipeline_row(harness, stays)["status"] == "open"


def test_the_forecast_reads_what_the_run_filled_a_tentative_deal_counts_as_weighted_pipeline(
    pipeline_harness, emulator, redmine
):
    harness = pipeline_harness()
    won = open_deal(
        emulator, "Won work", StageName="Closed Won", Amount=90000, End_Date__c="2026-05-31"
    )
    tentative = open_deal(
        emulator, "Tentative work", probability=60, Amount=60000, End_Date__c="2026-05-31"
    )
    harness.run()
    assert harness.explain(tentative)["link"]["salesforce_status"] == "Tentative"
    with harness.config.open("a") as config:
        config.write("forecast: {months: 1, by: billing_type, rates: {Fixed Fee: 150}}\n")
    result = harness.cli("forecast", "--from", "2026-05", "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    [group] = json.loads(result.stdout)["groups"]
    # won: 90,000 / 150 = 600 h;
    # the tentative deal is pipeline, not won: 60,000 / 150 x 60 % = 240 h
    assert (group["group"], group["won"], group["pipeline"]) == ("Fixed Fee", [600.0], [240.0])
    assert harness.explain(won)["link"]["salesforce_status"] == "Won"
