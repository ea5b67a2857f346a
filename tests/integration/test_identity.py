"""Issue 6: identity survives what people do — a lost state file, a cloned deal, a cleared link, a
hand-made copy in Redmine — and a state file is never used against another org or PSA, nor by two
runs at once."""

from __future__ import annotations

import random
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from filelock import FileLock

from tests.fixtures.exactly_once_support import (
    Book,
    assert_exactly_once,
    events,
    redmine_projects,
    state_rows,
)
from tests.fixtures.sync import CLI

pytestmark = pytest.mark.integration


@pytest.fixture
def book(harness, emulator) -> Book:
    harness.write_config()
    book = Book(emulator, random.Random(7))
    book.seed(won=8, other=2)
    return book


def lose_state(harness) -> None:
    for suffix in ("", "-wal", "-shm"):
        harness.state.with_name(harness.state.name + suffix).unlink(missing_ok=True)


def test_a_lost_state_file_relinks_every_project_and_keeps_psa_owned_and_on_create_values(
    harness, emulator, redmine, book
):
    harness.run()
    before = assert_exactly_once(harness)
    edited, progressed, repriced = book.deals[0], book.deals[1], book.deals[2]
    redmine.set_fields(before[edited]["id"], description="Scope agreed with the customer on site")
    redmine.set_custom_value(before[progressed]["id"], "Percent complete", "40")
    emulator.update(
        "Opportunity", repriced, Amount=777777.77
    )  # a CRM-owned change while the state is gone

    lose_state(harness)
    harness.run()

    after = assert_exactly_once(harness)
    assert {k: p["id"] for k, p in after.items()} == {k: p["id"] for k, p in before.items()}
    assert (
        redmine.project(after[edited]["id"])["description"]
        == "Scope agreed with the customer on site"
    )
    assert redmine.custom_value(after[progressed]["id"], "Percent complete") == "40"
    assert after[repriced]["values"]["Budget"] in ("777777.77", "777777.770")
    assert emulator.get("Opportunity", progressed)["PSA_Percent_Complete__c"] == 40
    assert not [e for e in events(harness, "create") if e["outcome"] == "created"]
    adopted = {e["record_id"] for e in events(harness, "adopt")}
    assert adopted == set(before)


def test_state_lost_a_push_to_an_adopted_project_lost_behind_500s_is_retried_never_taken_for_done(
    harness, emulator, redmine, redmine_proxy
):
    """Regression: adopting linked the project with the CRM values as its snapshot even when the
    push of those values was answered 500, so the PSA kept the old budget while psa-sync believed it
    sent."""
    harness.extra_env["REDMINE_URL"] = redmine_proxy.url
    harness.write_config()
    deal = Book(emulator, random.Random(9)).deal(Amount=1000)
    harness.run()
    project_id = redmine_projects(redmine)[0]["id"]
    emulator.update("Opportunity", deal, Amount=2500)
    lose_state(harness)
    redmine_proxy.fail_next(
        8, "error", method="PUT"
    )  # 4 tries of the push, 4 more at the end of the run

    harness.run(expect=3)

    assert redmine.custom_value(project_id, "Budget") in ("1000", "1000.0")
    assert [e["outcome"] for e in events(harness, "adopt")] == ["adopted"]
    redmine_proxy.clear()
    # Far outside the next run's window: only the update intent brings the deal back.
    emulator.update("Opportunity", deal, _stamp=datetime.now(UTC) - timedelta(hours=2))
    harness.run()
    assert redmine.custom_value(project_id, "Budget") in ("2500", "2500.0")
    assert_exactly_once(harness, psa_url=redmine_proxy.url)


def test_a_cloned_won_deal_gets_its_own_project_and_its_copied_link_is_replaced(
    harness, emulator, redmine, book
):
    harness.run()
    original = book.deals[3]
    clone = emulator.clone("Opportunity", original)
    copied = emulator.get("Opportunity", clone)
    assert copied["PSA_Project_Id__c"] == emulator.get("Opportunity", original)["PSA_Project_Id__c"]

    harness.run()

    projects = assert_exactly_once(harness)
    assert projects[clone]["id"] != projects[original]["id"]
    assert emulator.get("Opportunity", clone)["PSA_Project_Id__c"] == str(projects[clone]["id"])
    assert emulator.get("Opportunity", original)["PSA_Project_Id__c"] == str(
        projects[original]["id"]
    )


def test_a_link_cleared_by_a_user_is_written_again(harness, emulator, redmine, book):
    harness.run()
    cleared = book.deals[4]
    emulator.update("Opportunity", cleared, PSA_Project_Id__c=None, PSA_Project_URL__c=None)

    harness.run()

    assert_exactly_once(harness)
    assert [e["outcome"] for e in events(harness, "repair") if e["record_id"] == cleared] == [
        "queued"
    ]


def test_a_project_copied_by_hand_never_doubles_nor_steals_the_link_even_with_the_state_lost(
    harness, emulator, redmine, book
):
    harness.run()
    deal = book.deals[5]
    ours = assert_exactly_once(harness)[deal]
    copy = redmine.copy(ours["id"], "hand-copy-of-" + deal.lower()[-6:])

    harness.run()
    lose_state(harness)
    harness.run()

    same_key = [p for p in redmine_projects(redmine, {deal})]
    assert sorted(p["id"] for p in same_key) == sorted(
        [ours["id"], copy["id"]]
    )  # nothing new was made
    assert emulator.get("Opportunity", deal)["PSA_Project_Id__c"] == str(ours["id"])
    links = {row["record_id"]: row for row in state_rows(harness.state, "links")}
    assert links[deal]["project_id"] == ours["id"]


def test_a_key_on_two_hand_made_projects_is_quarantined_never_created(
    harness, emulator, redmine, book
):
    deal = book.deal()
    first = redmine.create_project(
        "hand-made-one", "Made by hand", custom={"salesforce_opportunity_id": deal}
    )
    redmine.copy(first["id"], "hand-made-two")

    result = harness.run(expect=1)

    assert "quarantined 1" in result.stdout
    assert sorted(p["identifier"] for p in redmine_projects(redmine, {deal})) == [
        "hand-made-one",
        "hand-made-two",
    ]
    quarantine = {q["record_id"]: q for q in state_rows(harness.state, "quarantine")}
    assert "2 PSA projects" in quarantine[deal]["error"]
    assert emulator.get("Opportunity", deal)["PSA_Project_Id__c"] is None


def test_a_state_file_made_against_another_redmine_is_refused_with_exit_2(
    harness, emulator, redmine, book, redmine_proxy
):
    harness.run()
    count = redmine.count()
    emulator.reset_calls()
    harness.extra_env["REDMINE_URL"] = (
        redmine_proxy.url
    )  # the same server under another URL: another PSA

    result = harness.run(expect=2)

    assert "was made against PSA" in result.stderr and redmine_proxy.url.lower() in result.stderr
    assert redmine_proxy.stats == {}  # not one request reached "the other" Redmine
    assert redmine.count() == count
    assert "composite" not in emulator.calls_snapshot()


@pytest.mark.subprocess
def test_a_second_run_while_one_holds_the_lock_exits_75_at_once_and_writes_nothing(
    harness, emulator, redmine, book
):
    harness.run()
    emulator.update("Opportunity", book.deals[0], Amount=4242)
    runs_before = state_rows(harness.state, "runs")
    emulator.reset_calls()
    emulator.faults.slow(
        30, endpoint="queryAll", n=1
    )  # the first run sits in its query, holding the lock

    first = subprocess.Popen(
        [*CLI, "--config", str(harness.config), "run"],
        env=harness.env(),
        cwd=harness.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        _wait_for_call(emulator, first, "queryAll")
        second = harness.run(expect=75)
        assert "another psa-sync run holds" in second.stderr
        assert emulator.calls_snapshot() == {
            "token": 1,
            "queryAll": 1,
        }  # the first run's, nothing of the second
        runs = state_rows(
            harness.state, "runs"
        )  # the first run's row, still running; none of the second
        assert runs[: len(runs_before)] == runs_before
        assert [r["finished_at"] for r in runs[len(runs_before) :]] == [None]
    finally:
        emulator.faults.clear()
        first.kill()
        first.communicate()


def test_a_lock_held_by_another_process_stops_a_run_before_any_call(
    harness, emulator, redmine, book
):
    harness.write_config()
    emulator.reset_calls()
    harness.state.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(harness.state.with_name(harness.state.name + ".lock"))):
        result = harness.run(expect=75)
    assert "another psa-sync run holds" in result.stderr
    assert emulator.calls_snapshot() == {}
    assert not harness.state.exists()
    assert redmine_projects(redmine, set(book.deals)) == []


def _wait_for_call(emulator, proc: subprocess.Popen, endpoint: str) -> None:
    """Until the emulator has seen ``endpoint`` from ``proc`` (which must still be running)."""
    for _ in range(600):
        if endpoint in emulator.calls_snapshot():
            return
        try:
            proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(
            f"the first run ended before its {endpoint} call: {proc.communicate()}"
        )
    raise AssertionError(f"no {endpoint} call within 30 s")
