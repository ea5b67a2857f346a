"""`psa-sync reconcile [--repair]` through the real CLI, against the emulator and a real Redmine.

Each test makes one kind of drift the way it happens in life (a deal the watermark never saw, a
person's copy of a project, a cleared link field, a purged deal, a deleted project), checks that
the report names it without changing anything, then that --repair fixes what it may and reports
the rest.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from filelock import FileLock

pytestmark = pytest.mark.integration

KEY = "Salesforce Opportunity Id"


def won_deal(emu, name: str, *, stamp: datetime | None = None, **fields) -> str:
    values = {
        "Name": name,
        "StageName": "Closed Won",
        "CloseDate": "2026-03-01",
        "Type": "New Customer",
        "Amount": 1000,
        **fields,
    }
    return emu.create("Opportunity", _stamp=stamp, **values)


def reconcile(harness, *args: str, expect: int) -> dict:
    result = harness.cli("reconcile", "--json", *args)
    assert result.returncode == expect, (
        f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return json.loads(result.stdout)


def found(report: dict) -> dict[str, int]:
    return {kind: v["found"] for kind, v in report["drift"].items() if v["found"]}


def ids_of(report: dict, kind: str) -> set[str]:
    return {e["id"] for e in report["drift"][kind]["examples"]}


def keyed(redmine) -> dict[str, list[dict]]:
    """Redmine's projects by the Salesforce key they carry (as a person's script reads them)."""
    out: dict[str, list[dict]] = {}
    for project in redmine.projects():
        values = {cf["name"]: cf.get("value") for cf in project.get("custom_fields", [])}
        if values.get(KEY):
            out.setdefault(values[KEY], []).append(project)
    return out


def long_ago() -> datetime:
    """Before the watermark and outside the lookback, after start_date: only reconcile sees it."""
    return datetime.now(UTC) - timedelta(hours=2)


@pytest.fixture
def synced(harness, emulator):
    """Five won deals and two open ones, synced by one run."""
    won = [won_deal(emulator, f"Won {n}") for n in range(5)]
    emulator.create("Opportunity", Name="Open", StageName="Prospecting", CloseDate="2026-04-01")
    harness.run()
    return won


def test_a_consistent_system_reports_no_drift_for_one_token_one_query_and_one_queryall(
    harness, emulator, synced
):
    emulator.reset_calls()
    report = reconcile(harness, expect=0)

    assert report["version"] == 1 and report["consistent"] and report["remaining"] == 0
    assert found(report) == {}
    assert report["checked"]["matching"] == 5 and report["checked"]["linked"] == 5
    assert report["checked"]["projects"] == 5
    assert emulator.calls_snapshot() == {"token": 1, "query": 1, "queryAll": 1}
    assert (
        report["salesforce_calls"]["total"] == report["checked"]["expected_salesforce_calls"] == 3
    )
    text = harness.cli("reconcile")
    assert text.returncode == 0 and "consistent" in text.stdout
    assert harness.status()["runs"][0]["mode"] == "reconcile"


def test_a_missed_deal_a_hand_made_project_and_a_cleared_link_are_reported_then_repaired(
    harness, emulator, redmine, synced
):
    missed = won_deal(emulator, "Missed", stamp=long_ago())
    adopted = won_deal(emulator, "Made by hand", stamp=long_ago())
    hand = redmine.create_project(
        "by-hand-1", "Made by hand in Redmine", {KEY: adopted, "budget": "1"}
    )
    cleared = synced[0]
    project_id = emulator.get("Opportunity", cleared)["PSA_Project_Id__c"]
    emulator.update("Opportunity", cleared, _stamp=long_ago(), PSA_Project_Id__c=None)
    before = redmine.count()

    report = reconcile(harness, expect=1)

    assert found(report) == {"missed": 2, "orphan": 1, "link-field": 1}
    assert ids_of(report, "missed") == {missed, adopted}
    assert ids_of(report, "orphan") == {adopted}
    assert ids_of(report, "link-field") == {cleared}
    assert (
        redmine.count() == before
        and emulator.get("Opportunity", cleared)["PSA_Project_Id__c"] is None
    )

    repaired = reconcile(harness, "--repair", expect=0)

    assert repaired["remaining"] == 0
    assert {e["status"] for kind in repaired["drift"].values() for e in kind["examples"]} == {
        "repaired"
    }
    projects = keyed(redmine)
    assert len(projects[missed]) == 1 and [p["id"] for p in projects[adopted]] == [hand["id"]]
    assert (
        redmine.count() == before + 1
    )  # the missed deal's project; the hand-made one adopted, not doubled
    assert emulator.get("Opportunity", cleared)["PSA_Project_Id__c"] == project_id
    assert emulator.get("Opportunity", adopted)["PSA_Project_Id__c"] == str(hand["id"])
    assert emulator.get("Opportunity", missed)["PSA_Project_Id__c"] == str(
        projects[missed][0]["id"]
    )

    assert found(reconcile(harness, expect=0)) == {}
    harness.run()
    assert redmine.count() == before + 1


def test_a_hand_copy_and_a_key_of_an_open_deal_are_reported_and_never_deleted(
    harness, emulator, redmine, synced
):
    deal = synced[1]
    original = int(emulator.get("Opportunity", deal)["PSA_Project_Id__c"])
    copy = redmine.copy(original, "copy-of-a-won-deal")
    open_deal = emulator.create(
        "Opportunity", Name="Still open", StageName="Prospecting", CloseDate="2026-05-01"
    )
    stray = redmine.create_project("stray-key", "Someone's guess", {KEY: open_deal})

    for args in ((), ("--repair",)):
        report = reconcile(harness, *args, expect=1)
        assert found(report) == {"duplicate": 1, "orphan": 1}
        duplicate = report["drift"]["duplicate"]["examples"][0]
        assert duplicate["id"] == deal and sorted(duplicate["project_ids"]) == sorted(
            [original, copy["id"]]
        )
        assert (
            f"{original} (sf-{deal.lower()}; psa-sync's identifier, linked)" in duplicate["detail"]
        )
        assert report["drift"]["orphan"]["examples"][0]["project_ids"] == [stray["id"]]
        assert report["remaining"] == 2
    assert {p["id"] for p in redmine.projects()} >= {original, copy["id"], stray["id"]}

    # A person removes the key from the copy and the stray project: consistent again.
    redmine.set_custom_value(copy["id"], KEY, "")
    redmine.set_custom_value(stray["id"], KEY, "")
    assert found(reconcile(harness, expect=0)) == {}


def project_of(emu, deal: str) -> int:
    return int(emu.get("Opportunity", deal)["PSA_Project_Id__c"])


def test_purged_and_unnoticed_deletes_are_flagged_and_a_deleted_project_is_made_again(
    harness, emulator, redmine, synced
):
    purged, unnoticed, lost_project = synced[2], synced[4], synced[3]
    purged_project, unnoticed_project, gone = (
        project_of(emulator, d) for d in (purged, unnoticed, lost_project)
    )
    # The emulator has no recycle-bin purge, and its delete always moves the stamp: act on its store
    # the way emptying the bin (and a delete the watermark never saw) would (test-side only).
    with emulator.store.transaction() as db:
        db.execute('DELETE FROM "Opportunity" WHERE Id = ?', [purged])
        db.execute(
            'UPDATE "Opportunity" SET IsDeleted = 1, SystemModstamp = ? WHERE Id = ?',
            [long_ago().strftime("%Y-%m-%dT%H:%M:%S.000+0000"), unnoticed],
        )
    redmine.delete(gone)

    report = reconcile(harness, expect=1)
    assert found(report) == {"hard-deleted": 1, "unflagged-deleted": 1, "project-missing": 1}
    assert ids_of(report, "hard-deleted") == {purged} and ids_of(report, "project-missing") == {
        lost_project
    }
    assert ids_of(report, "unflagged-deleted") == {unnoticed}

    repaired = reconcile(harness, "--repair", expect=0)

    assert repaired["remaining"] == 0
    assert redmine.custom_value(purged_project, "salesforce_status") == "Deleted"
    assert redmine.custom_value(unnoticed_project, "salesforce_status") == "Deleted"
    projects = keyed(redmine)
    assert len(projects[lost_project]) == 1  # made again (maybe on the same id: the test below)
    assert emulator.get("Opportunity", lost_project)["PSA_Project_Id__c"] == str(
        projects[lost_project][0]["id"]
    )
    assert harness.explain(purged)["link"]["salesforce_status"] == "Deleted"
    assert found(reconcile(harness, expect=0)) == {}


def test_a_project_made_again_on_the_id_redmine_reuses_is_repaired_and_exits_0(
    harness, emulator, redmine
):
    """Redmine on SQLite gives the id of a deleted last project to the next one: the repair's new
    project has the missing one's id, and the repair still counts as done (it reported "remaining"
    and exited 1 when the order of concurrent creates made the lost project the last one)."""
    deal = won_deal(emulator, "The only one")
    harness.run()
    gone = project_of(emulator, deal)
    redmine.delete(gone)

    repaired = reconcile(harness, "--repair", expect=0)

    assert repaired["drift"]["project-missing"]["repaired"] == 1 and repaired["remaining"] == 0
    made = keyed(redmine)[deal]
    assert len(made) == 1 and project_of(emulator, deal) == made[0]["id"]
    assert made[0]["id"] == gone, "this Redmine no longer reuses the id: the case is not pinned"
    assert found(reconcile(harness, expect=0)) == {}


def test_before_the_first_run_every_match_is_the_next_runs_and_pages_hold_2000_ids(
    harness, emulator
):
    emulator.seed(2500, won_ratio=1.0, seed=7)
    emulator.reset_calls()

    report = reconcile(harness, expect=0)

    assert report["checked"]["matching"] == 2500 and report["checked"]["next_run"] == 2500
    assert emulator.calls_snapshot() == {"token": 1, "query": 1, "queryMore": 1}
    assert (
        report["salesforce_calls"]["total"] == report["checked"]["expected_salesforce_calls"] == 3
    )


def test_reconcile_takes_the_run_lock(harness, synced):
    with FileLock(str(harness.state) + ".lock", timeout=0):
        result = harness.cli("reconcile")
    assert result.returncode == 75, result.stderr


def test_reconcile_stops_with_exit_4_before_passing_the_api_budget(harness, emulator, synced):
    emulator.set_budget(
        used=799, max=1000
    )  # max_org_api_percent 80: one more call is all it may make
    emulator.reset_calls()

    report = reconcile(harness, expect=4)

    assert report["status"] == "stopped" and "API budget" in report["error"]
    assert sum(emulator.calls_snapshot().get(k, 0) for k in ("query", "queryAll", "queryMore")) <= 1


def test_a_project_whose_key_a_person_cleared_gets_it_back_and_is_never_made_twice(
    harness, emulator, redmine, synced
):
    deal = synced[0]
    project = project_of(emulator, deal)
    redmine.set_custom_value(project, KEY, "")
    before = redmine.count()

    report = reconcile(harness, expect=1)
    assert found(report) == {"key-missing": 1} and ids_of(report, "key-missing") == {deal}

    reconcile(harness, "--repair", expect=0)

    assert redmine.custom_value(project, KEY) == deal and redmine.count() == before
    assert found(reconcile(harness, expect=0)) == {}


def test_a_cloned_won_deal_the_watermark_missed_gets_its_own_project_and_link(
    harness, emulator, redmine, synced
):
    original = synced[1]
    clone = emulator.clone("Opportunity", original)
    with emulator.store.transaction() as db:  # a clone saved long ago, before the last run's window
        db.execute(
            'UPDATE "Opportunity" SET SystemModstamp = ? WHERE Id = ?',
            [long_ago().strftime("%Y-%m-%dT%H:%M:%S.000+0000"), clone],
        )
    assert emulator.get("Opportunity", clone)["PSA_Project_Id__c"] == str(
        project_of(emulator, original)
    )

    report = reconcile(harness, expect=1)
    assert found(report) == {"missed": 1} and ids_of(report, "missed") == {clone}

    reconcile(harness, "--repair", expect=0)

    projects = keyed(redmine)
    assert len(projects[clone]) == 1 and len(projects[original]) == 1
    assert project_of(emulator, clone) == projects[clone][0]["id"] != project_of(emulator, original)
    assert emulator.get("Opportunity", clone)["PSA_Project_URL__c"].endswith("/sf-" + clone.lower())


def test_a_changed_mapping_is_re_applied_to_untouched_deals_by_repair(
    harness, emulator, redmine, tmp_path
):
    deals = [won_deal(emulator, f"Mapped {n}") for n in range(3)]
    harness.run()
    for (
        deal
    ) in deals:  # last touched long before the next run's window (as deals closed months ago are)
        emulator.update("Opportunity", deal, _stamp=long_ago())
    default = harness.mapping.read_text()
    changed = tmp_path / "mapping.yaml"
    changed.write_text(default.replace('"New Customer": "Fixed Fee"', '"New Customer": "Retainer"'))
    harness.write_config(mapping=changed)
    harness.run()  # nothing changed in Salesforce: untouched deals keep the old mapping's values
    assert harness.status()["mapping"]["links_on_older_mapping"] == 3

    report = reconcile(harness, "--repair", expect=0)
    assert found(report) == {"old-mapping": 3}
    projects = keyed(redmine)
    for deal in deals:
        values = {cf["name"]: cf.get("value") for cf in projects[deal][0]["custom_fields"]}
        assert values["Billing type"] == "Retainer"
    assert harness.status()["mapping"]["links_on_older_mapping"] == 0


def test_a_repair_whose_refetch_and_then_write_back_both_fail_exits_with_the_first_error(
    harness, emulator, synced, monkeypatch
):
    """The write-back after a failed repair is a clean-up: its own failure is logged, and the exit
    code stays the one that says what went wrong (the cycle's rule, which --repair now runs in)."""
    from sync.common.errors import AuthError, SalesforceUnavailable
    from sync.config import load_settings
    from sync.extract import incremental
    from sync.ops.reconcile.run import reconcile as reconcile_in_process
    from sync.orchestrator import closing

    won_deal(emulator, "Missed", stamp=long_ago())
    harness.write_config()

    def refetch(*_args, **_kwargs):
        raise SalesforceUnavailable("the re-fetch of the missed deal got no answer")

    def write_back(*_args, **_kwargs):
        raise AuthError("the write-back's session was refused")

    monkeypatch.setattr(incremental, "fetch_ids", refetch)
    monkeypatch.setattr(closing, "flush", write_back)
    monkeypatch.chdir(harness.workdir)
    report = reconcile_in_process(
        load_settings(harness.config, harness.env()), repair=True, environ=harness.env()
    )

    assert report.exit_code == SalesforceUnavailable.exit_code == 3  # not AuthError's 5
    assert "re-fetch" in report.error and harness.status()["runs"][0]["exit_code"] == 3
