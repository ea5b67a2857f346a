"""Issue 6: the API budget guard, late commits in the lookback, many deals on one SystemModstamp.

A budget stop (exit 4) must come *before* the org's limit is spent, keep every committed page, and
let the next run finish the work; equal stamps across page boundaries must neither skip nor double
a deal.
"""

from __future__ import annotations

import json
import random
import textwrap
from datetime import UTC, datetime, timedelta

import pytest

from sync.common.clock import parse_iso
from tests.fixtures.exactly_once_support import (
    Book,
    assert_exactly_once,
    events,
    redmine_projects,
    run_until_clean,
    state_rows,
)

pytestmark = pytest.mark.integration

LIMITS = {"max_org_api_percent": 80, "max_calls_per_run": 5000}


def past_book(emulator, n: int, start: datetime) -> Book:
    """``n`` won deals stamped an hour apart, long ago (the lookback re-reads none of them)."""
    book = Book(emulator, random.Random(4))
    for i in range(n):
        book.deal(_stamp=start + timedelta(hours=i))
    return book


def queries(emulator) -> list[str]:
    return [e["soql"] for e in emulator.log_snapshot() if e["endpoint"] in ("query", "queryAll")]


def test_a_low_org_budget_stops_the_run_with_exit_4_before_it_is_spent_and_the_next_run_finishes(
    harness, emulator, redmine
):
    past_book(emulator, 60, datetime(2026, 2, 1, tzinfo=UTC))
    emulator.faults.short_pages(10)
    emulator.set_budget(used=0, max=6)  # 80% → psa-sync may use 4 calls of the org's 6; it needs 7
    harness.write_config(limits=LIMITS)

    stopped = harness.run(expect=4)

    assert "API budget" in stopped.stdout + stopped.stderr
    assert emulator.api_used <= 4 < emulator.daily_limit, "the guard let the org's budget be spent"
    assert not [e for e in emulator.log_snapshot() if e["status"] == 403]
    made = len(redmine_projects(redmine))
    assert 0 < made < 60
    watermark = state_rows(harness.state, "watermarks")[0]["value"]
    assert watermark > "2026-02-01T00:00:00"
    window = json.loads(
        next(row["value"] for row in state_rows(harness.state, "meta") if row["key"] == "window")
    )
    assert window["after"] is not None

    emulator.set_budget(used=0, max=15000)
    emulator.reset_calls()
    harness.run(expect=0)

    # It resumed right after the last row it committed (the open window's keyset), not the start.
    first = queries(emulator)[0]
    assert f"Id > '{window['after'][1]}'" in first
    assert parse_iso(window["after"][0]) <= parse_iso(watermark)
    assert [row for row in state_rows(harness.state, "meta") if row["key"] == "window"][0][
        "value"
    ] == ""
    assert_exactly_once(harness)
    # A create whose 201 was lost behind a Redmine 500 is found and adopted: linked once either way.
    linked = [
        e
        for e in events(harness, "create") + events(harness, "adopt")
        if e["outcome"] in ("created", "adopted")
    ]
    assert len(linked) == 60 == len({e["record_id"] for e in linked})


def data_calls(run: dict) -> int:
    return sum(n for endpoint, n in (run["api_calls"] or {}).items() if endpoint != "token")


def test_max_calls_per_run_stops_with_exit_4_and_the_next_run_resumes(harness, emulator, redmine):
    past_book(emulator, 60, datetime(2026, 2, 1, tzinfo=UTC))
    emulator.faults.short_pages(10)
    harness.write_config(limits={"max_org_api_percent": 80, "max_calls_per_run": 3})

    harness.run(expect=4)
    first = len(redmine_projects(redmine))
    harness.run(expect=4)
    second = len(redmine_projects(redmine))
    assert 0 < first < second <= 60, "the second capped run did not resume where the first stopped"
    assert all(data_calls(run) <= 3 for run in harness.status()["runs"])

    harness.write_config(limits=LIMITS)
    harness.run(expect=0)
    assert_exactly_once(harness)


def test_a_cap_smaller_than_the_lookback_reread_still_finishes(harness, emulator, redmine):
    # The rows inside the lookback (here the echo of our own write-back of 40 deals, 4 pages) need
    # more calls than max_calls_per_run. Before, every run re-read them from the same place and
    # stopped: exit 4 forever, the watermark stuck. Now a stopped run leaves its window open after
    # the last row it committed and the next run goes on from there, so windows complete and the
    # watermark moves on.
    past_book(emulator, 40, datetime(2026, 2, 1, tzinfo=UTC))
    emulator.faults.short_pages(10)
    harness.write_config(limits={"max_org_api_percent": 80, "max_calls_per_run": 3})
    codes, firsts, watermarks = [], [], []
    for _ in range(5):
        emulator.reset_calls()
        codes.append(harness.run(expect=None).returncode)
        firsts.append(queries(emulator)[0])
        watermarks.append(state_rows(harness.state, "watermarks")[0]["value"])

    # Each capped run finishes the window its predecessor left open, then starts its own (whose
    # lookback the cap again cannot cover, so most runs still say 4): but none re-reads from where
    # another began.
    assert set(codes) <= {0, 4} and 0 in codes, codes
    assert all(a != b for a, b in zip(firsts, firsts[1:], strict=False)), (
        "a run repeated its predecessor's read"
    )
    assert watermarks == sorted(watermarks) and len(set(watermarks)) >= 4, watermarks
    harness.write_config(
        limits=LIMITS
    )  # the write-backs the caps left waiting, then everything holds
    harness.run(expect=0)
    assert_exactly_once(harness)


def test_a_deal_committed_late_with_a_stamp_inside_the_lookback_is_synced(
    harness, emulator, redmine
):
    book = Book(emulator, random.Random(1))
    book.seed(won=3)
    # A transaction that started two minutes ago and commits only after the next run has read.
    late = book.deal(_stamp=datetime.now(UTC) - timedelta(minutes=2), _hidden=True)
    harness.run()
    assert late not in {p["values"]["Salesforce Opportunity Id"] for p in redmine_projects(redmine)}
    watermark = parse_iso(state_rows(harness.state, "watermarks")[0]["value"])
    stamp = parse_iso(
        emulator.get("Opportunity", late)["SystemModstamp"].replace("+0000", "+00:00")
    )
    assert timedelta(minutes=1) < watermark - stamp < timedelta(minutes=10)

    emulator.release([late])
    harness.run()

    assert_exactly_once(harness)
    assert late in {p["values"]["Salesforce Opportunity Id"] for p in redmine_projects(redmine)}


FAST_MAPPING = """
version: 1
source: {object: Opportunity, criteria: "IsWon = true", start_date: 2026-01-01, lookback: 10m}
key: Id
project:
  fields:
    name: {template: "{Account.Name} - {Name}", max_length: 255}
    customer: Account.Name
    budget: {from: Amount, type: decimal, default: 0}
    start_date: {from: CloseDate, type: date}
    end_date: {from: End_Date__c, type: date}
    billing_type:
      from: Type
      map: {"New Customer": "Fixed Fee", "Existing Customer - Upgrade": "Time & Materials",
            "Existing Customer - Replacement": "Time & Materials",
            "Existing Customer - Downgrade": "Retainer"}
      unmapped: error
      required: true
writeback:
  PSA_Project_Id__c: project.id
  PSA_Project_URL__c: project.url
"""


@pytest.mark.parametrize(
    ("deals", "page"),
    [
        pytest.param(400, 50, id="400-deals-pages-of-50"),
        # the org-size block the issue named: `make soak`
        pytest.param(1500, 200, id="1500-deals-pages-of-200", marks=pytest.mark.slow),
    ],
)
def test_deals_on_one_system_modstamp_across_pages_and_a_budget_stop_each_become_one_project(
    harness, emulator, redmine, tmp_path, deals, page
):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        textwrap.dedent(FAST_MAPPING)
    )  # no back-sync: this test is about the extract
    harness.options["write_concurrency"] = 3
    same = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    book = Book(emulator, random.Random(15))
    for _ in range(deals):
        book.deal(_stamp=same)
    emulator.faults.short_pages(page)

    # First a run stopped by its call cap in the middle of the equal-stamp block (after 4 pages) …
    harness.write_config(
        mapping=mapping, limits={"max_org_api_percent": 80, "max_calls_per_run": 4}
    )
    harness.run(expect=4)
    first = len(redmine_projects(redmine))
    assert 0 < first < deals
    # … then unbounded ones. A create still unconfirmed at the end of a run (a PSA that answered
    # 500) ends it with exit 3, and the next run finishes it.
    harness.write_config(mapping=mapping, limits=LIMITS)
    run_until_clean(harness, max_runs=3)

    projects = assert_exactly_once(harness)
    assert len(projects) == deals
    # Each deal was created once: by its 201, or (Redmine answered 500 to a create that committed)
    # by finding it and adopting it. Never twice, never both.
    made = [
        e["record_id"]
        for e in events(harness)
        if (e["action"], e["outcome"])
        in (("create", "created"), ("adopt", "adopted"), ("recover", "linked"))
    ]
    assert len(made) == len(set(made)) == deals
    print(
        f"{deals} equal stamps: {first} projects before the budget stop, {deals} after; "
        f"{deals - len(events(harness, 'create'))} creates answered 500 and adopted"
    )
