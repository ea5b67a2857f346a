"""SIGKILL at the crash points on Tryton leaves exactly one project per won deal (as
tests/integration/test_crash.py shows for Redmine). The check reads Tryton over JSON-RPC as a
person's script would, and the state file as bytes on disk, never through psa-sync's own code."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

import pytest

from tests.fixtures.exactly_once_support import (
    KILLED,
    Book,
    events,
    run_killed_after,
    run_until_clean,
    run_with_crash,
    state_rows,
    won_deals,
)

pytestmark = [pytest.mark.integration, pytest.mark.subprocess]  # kills, signals or a real process

# The dangerous windows: a create sent but its link not committed, an intent without its create,
# a write-back in flight, a commit that never happened.
SCHEDULES = {
    "after-intent": [1, 2, 1],
    "after-create": [1, 2, 1, 3],
    "after-collections": [1, 1],
    "before-commit": [1, 2],
    "after-chunk": [
        1,
        2,
        1,
    ],  # chunks of 2 (PSA_SYNC_CREATE_CHUNK): a chunk linked, the next not sent
}
METHOD = {
    "New Customer": "manual",
    "Existing Customer - Upgrade": "timesheet",
    "Existing Customer - Replacement": "timesheet",
    "Existing Customer - Downgrade": "progress",
}


@pytest.fixture
def book(tryton_harness, emulator) -> Book:
    tryton_harness.write_config()
    emulator.faults.short_pages(5)
    book = Book(emulator, random.Random(6))
    book.seed(won=8, other=2)
    return book


def assert_exactly_once_in_tryton(harness) -> None:
    """One Tryton project per won deal (none without a key, no key twice), links written back,
    fields right, nothing pending in the state."""
    tryton, emu = harness.redmine, harness.emu
    won = won_deals(emu)
    projects = tryton.projects()
    keyless = [p["id"] for p in projects if not p["salesforce_key"]]
    assert not keyless, f"projects without a deal: {keyless}"
    twice = {k: n for k, n in Counter(p["salesforce_key"] for p in projects).items() if n > 1}
    assert not twice, f"duplicate projects: {twice}"
    by_key = {p["salesforce_key"]: p for p in projects}
    assert set(by_key) == set(won), (
        f"missing {set(won) - set(by_key)}, stray {set(by_key) - set(won)}"
    )
    for deal_id, deal in won.items():
        project = by_key[deal_id]
        account = (deal.get("Account") or {}).get("Name") or ""
        assert deal["PSA_Project_Id__c"] == str(project["id"]), f"{deal_id}: link not written back"
        assert project["name"] == f"{account} - {deal['Name']}"
        assert project["list_price"] == Decimal(str(deal["Amount"] or 0))
        assert project["project_invoice_method"] == METHOD[deal["Type"]]
        assert project["party."]["name"] == account
    assert state_rows(harness.state, "intents") == []
    assert state_rows(harness.state, "outbox") == []
    assert state_rows(harness.state, "quarantine") == []


@pytest.mark.parametrize("point", list(SCHEDULES))
def test_sigkill_at_a_crash_point_leaves_one_tryton_project_per_deal(tryton_harness, book, point):
    harness = tryton_harness
    if point == "after-chunk":
        harness.extra_env["PSA_SYNC_CREATE_CHUNK"] = "2"
    codes = []
    for nth in SCHEDULES[point]:
        codes.append(run_with_crash(harness, point, nth))
        book.churn()
    assert codes.count(KILLED) >= len(codes) - 1, f"{point}: exit codes {codes}"
    run_until_clean(harness)
    assert_exactly_once_in_tryton(harness)
    recovered = {e["outcome"] for e in events(harness, "recover")}
    if (
        point == "after-create"
    ):  # Tryton made it, the link was never committed: recovery found the key
        assert "linked" in recovered
    if point in ("after-intent", "after-chunk"):  # intents whose creates were never sent
        assert "not-found" in recovered
    harness.run()
    counts = harness.status()["runs"][0]["counts"]
    last = [
        (e["action"], e["outcome"], e["detail"])
        for e in events(harness)
        if e["run_id"] == counts_run(harness)
    ]
    assert counts["written"] == 0, last
    assert (counts["created"], counts["adopted"], counts["updated"], counts["written"]) == (
        0,
        0,
        0,
        0,
    )


def test_sigkill_at_random_moments_leaves_one_tryton_project_per_deal(tryton_harness, book):
    rng = random.Random(20261201)
    kills = attempts = 0
    while kills < 8:
        attempts += 1
        assert attempts < 30, (
            f"only {kills} of {attempts} runs were still running when the timer fired"
        )
        book.churn()
        code = run_killed_after(tryton_harness, rng.uniform(0.6, 2.5))
        assert code in (KILLED, 0, 1), f"a run exited {code}"
        kills += code == KILLED
    run_until_clean(tryton_harness)
    assert_exactly_once_in_tryton(tryton_harness)


def counts_run(harness) -> int:
    return max(e["run_id"] for e in events(harness))
