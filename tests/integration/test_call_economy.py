"""The Salesforce calls of a fixed scenario, counted exactly: a regression in call economy fails CI.

The emulator counts every call by endpoint; the run goes through the run's own entry point
(``stages.run_once``) against the tests' in-memory FakePsa, so no Redmine is needed and the figures
are Salesforce's alone. `make bench` measures the same at an org's size (docs/benchmarks.md).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fixtures.emulator import plannable, seed_history
from tests.fixtures.fake_psa import FakePsa
from tests.fixtures.runs import dry_run
from tests.fixtures.structure import use_example_structure
from tests.fixtures.sync import DEFAULT_MAPPING, ROOT, SyncHarness, mapping_variant

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a 4,500-deal book: not in make test-fast

WON = 4500  # three query pages (2,000 rows a page), 23 collections of 200
CHANGED = (
    45  # 1% of the book edited in Salesforce: one query page, an update each, nothing written back
)
PROGRESSED = (
    450  # projects whose percent complete moved in the PSA: the back-sync writes 3 collections
)


def test_plan_first_run_next_run_idle_incremental_and_backsync_spend_exactly_the_calls_they_must(
    emulator, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    seed_history(emulator, WON, won_ratio=1.0)
    dry = SimpleNamespace(env=SimpleNamespace(url="http://127.0.0.1:9", api_key="not-a-key"))
    harness = SyncHarness(emu=emulator, redmine=dry, workdir=tmp_path, mapping=DEFAULT_MAPPING)
    emulator.set_budget(used=0, max=1_000_000)
    limits = {"max_org_api_percent": 100, "max_calls_per_run": 100_000}
    mapping = mapping_variant(Path(tmp_path), ("lookback: 10m", "lookback: 1s"))
    harness.write_config(
        limits=limits, mapping=mapping, schedule={"backsync_interval": "1h", "hours_interval": "1h"}
    )
    psa = FakePsa("http://127.0.0.1:9")
    pages = math.ceil(WON / 2000)

    # plan: the next run's pages and nothing else; its PSA URL answers nobody
    emulator.reset_calls()
    planned = harness.cli("plan", "--json")
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["counts"]["creates"] == WON
    assert emulator.calls_snapshot() == {"token": 1, "queryAll": 1, "queryMore": pages - 1}

    first = dry_run(harness, psa)
    assert first["counts"]["created"] == WON
    # One token, the window's pages, and one write-back per deal: its link and its first back-sync
    # values go together at the end of the run, 200 deals a call (before: the links of every full
    # 200 went as the pages were done, and the statuses after back-sync wrote each deal a second
    # time).
    assert first["calls"] == {
        "token": 1,
        "queryAll": 1,
        "queryMore": pages - 1,
        "composite": math.ceil(WON / 200),
    }

    time.sleep(2)  # past the 1 s lookback, so the echo of the write-backs is read by one run only
    next_run = dry_run(harness, psa)  # reads the echo of its own write-backs once, writes nothing
    assert next_run["counts"]["created"] == 0 and next_run["counts"]["extracted"] == WON
    assert next_run["calls"] == {"token": 1, "queryAll": 1, "queryMore": pages - 1}

    time.sleep(2)
    idle = dry_run(harness, psa)
    assert idle["counts"]["extracted"] == 0
    assert idle["calls"] == {"token": 1, "queryAll": 1}

    # 1% of the book edited in Salesforce: one query page holds them; each is an update in the PSA
    # and nothing goes back to Salesforce (the links are unchanged, the back-sync is not due).
    for i, record_id in enumerate(emulator.ids("Opportunity")[:CHANGED]):
        emulator.update("Opportunity", record_id, Amount=10_000 + i)
    time.sleep(
        max(0.0, emulator.store.clock_ms() / 1000 - time.time()) + 1.0
    )  # the signpost passes the edits
    incremental = dry_run(harness, psa)
    assert (incremental["counts"]["extracted"], incremental["counts"]["updated"]) == (
        CHANGED,
        CHANGED,
    )
    assert incremental["calls"] == {"token": 1, "queryAll": 1}

    # The back-sync due: the PSA lists every linked project (one delivery call), and only the
    # projects whose percent complete moved are written back, 200 a call.
    time.sleep(2)
    for key in list(psa.projects)[:PROGRESSED]:
        psa.values[key]["percent_complete"] = 55
    harness.write_config(
        limits=limits, mapping=mapping, schedule={"backsync_interval": "1s", "hours_interval": "1h"}
    )
    # read 1,000 links at a time (a chunk in memory): more PSA listings, the same Salesforce calls
    monkeypatch.setattr("sync.backsync.delivery.CHUNK", 1000)
    asked, delivery = [], psa.delivery
    monkeypatch.setattr(
        psa, "delivery", lambda refs, hours: asked.append(len(refs)) or delivery(refs, hours)
    )
    backsync = dry_run(harness, psa)
    assert asked == [1000, 1000, 1000, 1000, 500]
    assert (backsync["counts"]["backsync"], backsync["counts"]["written"]) == (
        PROGRESSED,
        PROGRESSED,
    )
    assert backsync["calls"] == {
        "token": 1,
        "queryAll": 1,
        "composite": math.ceil(PROGRESSED / 200),
    }


def test_the_pipeline_stream_costs_no_salesforce_call(emulator, tmp_path, monkeypatch):
    """Issue 15: the pipeline's deals come in the run's one query (its criteria OR-ed into the
    WHERE): the same calls as the won deals alone, and every open deal of the criteria lands in the
    pipeline table."""
    seed_history(
        emulator, 600, won_ratio=0.5
    )  # one page either way: the open deals add rows, not calls
    won = len(emulator.ids("Opportunity", where="IsWon = true"))
    in_pipeline = set(emulator.ids("Opportunity", where="IsClosed = false AND Probability >= 50"))
    assert won and in_pipeline and won + len(in_pipeline) < 2000
    dry = SimpleNamespace(env=SimpleNamespace(url="http://127.0.0.1:9", api_key="not-a-key"))
    calls = {}
    for name, section in (
        ("won-only", ""),
        ("with-pipeline", '\npipeline:\n  criteria: "IsClosed = false AND Probability >= 50"\n'),
    ):
        workdir = tmp_path / name
        workdir.mkdir()
        monkeypatch.chdir(workdir)
        mapping = mapping_variant(workdir, ("lookback: 10m", "lookback: 1s"))
        mapping.write_text(mapping.read_text() + section)
        harness = SyncHarness(emu=emulator, redmine=dry, workdir=workdir, mapping=mapping)
        harness.write_config(
            limits={"max_org_api_percent": 100, "max_calls_per_run": 100_000},
            schedule={"backsync_interval": "1h", "hours_interval": "1h"},
        )
        run = dry_run(harness, FakePsa("http://127.0.0.1:9"))
        calls[name] = run["calls"]
        assert (
            run["counts"]["created"] == won
        )  # the pipeline makes no project without create_projects
    assert (
        calls["with-pipeline"]
        == calls["won-only"]
        == {"token": 1, "queryAll": 1, "composite": math.ceil(won / 200)}
    )
    with sqlite3.connect(tmp_path / "with-pipeline" / harness.state_path) as db:
        opened = {
            row[0] for row in db.execute("SELECT record_id FROM pipeline WHERE status = 'open'")
        }
    assert opened == in_pipeline


STRUCTURED = 600  # one query page: what a structure adds is per run, not per page
WITH_LINES = 100  # the deals that carry line items (two services each)


def structure_mappings(workdir: Path) -> dict[str, Path]:
    """The example structure mapping (lookback 1 s), and the same without ``structure:``."""
    (workdir / "templates").mkdir()
    for template in (ROOT / "mappings" / "templates").glob("*.yaml"):
        (workdir / "templates" / template.name).write_text(template.read_text())
    (workdir / "maps").mkdir()
    text = (
        (ROOT / "mappings" / "examples" / "structure.yaml")
        .read_text()
        .replace("lookback: 10m", "lookback: 1s")
    )
    paths = {
        "structured": workdir / "maps" / "structure.yaml",
        "plain": workdir / "maps" / "plain.yaml",
    }
    paths["structured"].write_text(text)
    paths["plain"].write_text(text[: text.index("\nstructure:")] + "\n")
    return paths


def sell_services(emulator, deals: list[str]) -> None:
    """Two service lines on each of ``deals``; every deal of the book lasts 120 days (the seeded
    book has ends before starts, which a plan's relative dates refuse: record errors are not this
    test's subject)."""
    for deal in emulator.query("SELECT Id, CloseDate FROM Opportunity"):
        end = dt.date.fromisoformat(str(deal["CloseDate"])) + dt.timedelta(days=120)
        emulator.update("Opportunity", deal["Id"], End_Date__c=end.isoformat())
    entries = [
        emulator.add_product(name, code=code, family="Services")
        for name, code in (("Consulting day", "CONS-DAY"), ("Training day", "TRAIN-DAY"))
    ]
    for deal in deals:
        for entry in entries:
            emulator.add_line_item(deal, entry, quantity=2)


def test_a_structure_reads_its_line_items_for_no_call_and_adds_one_amendments_query_a_run(
    emulator, tmp_path, monkeypatch
):
    """Issue 23: the line items come in the deals' own query (a subquery), so the creates cost what
    they cost without `structure:`; the one more call of every run is the amendments query (line
    items changed on linked deals whose deal did not move), once per run whatever the pages."""
    seed_history(emulator, STRUCTURED, won_ratio=1.0)
    sell_services(emulator, emulator.ids("Opportunity")[:WITH_LINES])
    time.sleep(
        max(0.0, emulator.store.clock_ms() / 1000 - time.time()) + 1.0
    )  # the signpost passes the lines
    dry = SimpleNamespace(env=SimpleNamespace(url="http://127.0.0.1:9", api_key="not-a-key"))
    limits = {"max_org_api_percent": 100, "max_calls_per_run": 100_000}
    runs = {}
    for name in ("plain", "structured"):
        workdir = tmp_path / name
        workdir.mkdir()
        monkeypatch.chdir(workdir)
        harness = SyncHarness(
            emu=emulator, redmine=dry, workdir=workdir, mapping=structure_mappings(workdir)[name]
        )
        harness.write_config(
            limits=limits, schedule={"backsync_interval": "1h", "hours_interval": "1h"}
        )
        psa = FakePsa("http://127.0.0.1:9")
        first = dry_run(harness, psa)
        assert first["counts"]["created"] == STRUCTURED
        time.sleep(2)  # past the 1 s lookback: the next run reads the echo of the write-backs once
        runs[name] = [first["calls"], dry_run(harness, psa)["calls"]]
        time.sleep(2)
        runs[name].append(dry_run(harness, psa)["calls"])
    creates = {"token": 1, "queryAll": 1, "composite": math.ceil(STRUCTURED / 200)}
    assert runs["plain"] == [creates, {"token": 1, "queryAll": 1}, {"token": 1, "queryAll": 1}]
    assert runs["structured"] == [
        {**creates, "queryAll": 2},
        {"token": 1, "queryAll": 2},
        {"token": 1, "queryAll": 2},
    ]


def test_a_bulk_backfill_with_a_structure_reads_the_line_items_in_one_more_job(
    emulator, tmp_path, monkeypatch
):
    """Bulk API 2.0 takes no subquery: a backfill read through Bulk gets the line items from a
    second job over the same deals (spooled, joined by deal), so a structure costs exactly one more
    job's calls."""
    emulator.seed(STRUCTURED, won_ratio=1.0, seed=5)
    sell_services(emulator, emulator.ids("Opportunity")[:WITH_LINES])
    dry = SimpleNamespace(env=SimpleNamespace(url="http://127.0.0.1:9", api_key="not-a-key"))
    since = (dt.date.today() - dt.timedelta(days=3660)).isoformat()
    calls, reports = {}, {}
    for name in ("plain", "structured"):
        workdir = tmp_path / name
        workdir.mkdir()
        monkeypatch.chdir(workdir)
        mapping = structure_mappings(workdir)[name]
        mapping.write_text(
            mapping.read_text().replace("start_date: 2026-01-01", f"start_date: {dt.date.today()}")
        )
        harness = SyncHarness(emu=emulator, redmine=dry, workdir=workdir, mapping=mapping)
        harness.write_config(
            limits={"max_org_api_percent": 100, "max_calls_per_run": 100_000, "bulk_threshold": 10}
        )
        emulator.reset_calls()
        done = harness.cli("backfill", "--since", since, "--dry-run", "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        calls[name], reports[name] = emulator.calls_snapshot(), json.loads(done.stdout)
    assert reports["plain"]["reader"] == reports["structured"]["reader"] == "bulk"
    assert reports["plain"]["counts"] == reports["structured"]["counts"]
    assert reports["structured"]["counts"]["created"] == STRUCTURED
    job = {
        "bulk2_create": 1,
        "bulk2_poll": 2,
        "bulk2_results": 1,
        "bulk2_delete": 1,
    }  # the emulator polls twice
    assert calls["plain"] == {
        "token": 1,
        "query": 1,
        "describe": 2,
        **job,
    }  # the COUNT(); Opportunity, Account
    # one more job, and the describes its CSV is typed from (OpportunityLineItem, Product2)
    assert calls["structured"] == {
        "token": 1,
        "query": 1,
        "describe": 4,
        **{k: 2 * v for k, v in job.items()},
    }


PLANNED = (
    450  # with 5 line items each a deal weighs 6 rows of a page: 333 deals a page, so two pages
)


@pytest.mark.parametrize("planned", [False, True], ids=["without-structure", "with-structure"])
def test_a_plan_for_every_new_project_costs_the_pages_its_line_items_fill_and_one_amendments_query(
    emulator, tmp_path, monkeypatch, planned
):
    """Issue 23: the line items come inside the deals' query (a subquery), so making 450 projects
    with their plans spends the same token and write-backs as without; the pages count the child
    rows, as an org counts them, and the amendments query is the one more query of a run with
    ``structure:``."""
    monkeypatch.chdir(tmp_path)
    seed_history(emulator, PLANNED, won_ratio=1.0)
    plannable(emulator)
    assert emulator.seed_line_items(5, seed=3) == 5 * PLANNED
    dry = SimpleNamespace(env=SimpleNamespace(url="http://127.0.0.1:9", api_key="not-a-key"))
    harness = SyncHarness(emu=emulator, redmine=dry, workdir=tmp_path, mapping=DEFAULT_MAPPING)
    emulator.set_budget(used=0, max=1_000_000)
    use_example_structure(
        harness,
        tmp_path,
        limits={"max_org_api_percent": 100, "max_calls_per_run": 100_000},
        schedule={"backsync_interval": "1h", "hours_interval": "1h"},
        planned=planned,
    )
    psa = FakePsa("http://127.0.0.1:9")
    run = dry_run(harness, psa)
    assert run["counts"]["created"] == PLANNED
    writes = math.ceil(PLANNED / 200)
    if not planned:
        assert run["calls"] == {"token": 1, "queryAll": 1, "composite": writes}
        assert psa.plans == {}
        return
    assert run["calls"] == {
        "token": 1,
        "queryAll": 2,
        "queryMore": math.ceil(PLANNED * 6 / 2000) - 1,
        "composite": writes,
    }
    assert len(psa.plans) == PLANNED  # every project has its plan
    assert (
        run["counts"]["children_created"]
        == sum(len(plan) for plan in psa.plans.values())
        >= PLANNED * 4
    )


def test_run_from_cron_is_unchanged_by_an_events_section(emulator, tmp_path, monkeypatch):
    """`events:` is the daemon's: a `run` with it enabled makes the same calls, opens no stream and
    stores no replay id."""
    monkeypatch.chdir(tmp_path)
    seed_history(emulator, 30, won_ratio=1.0)
    dry = SimpleNamespace(env=SimpleNamespace(url="http://127.0.0.1:9", api_key="not-a-key"))
    harness = SyncHarness(emu=emulator, redmine=dry, workdir=tmp_path, mapping=DEFAULT_MAPPING)
    harness.write_config(events={"enabled": True, "pubsub_url": emulator.pubsub_endpoint})
    psa = FakePsa("http://127.0.0.1:9")
    rpcs = {k: v for k, v in emulator.pubsub_snapshot().items() if k.startswith(("rpc", "streams"))}

    first = dry_run(harness, psa)
    assert first["counts"]["created"] == 30
    assert first["calls"] == {"token": 1, "queryAll": 1, "composite": 1}
    assert {
        k: v for k, v in emulator.pubsub_snapshot().items() if k.startswith(("rpc", "streams"))
    } == rpcs
    with sqlite3.connect(harness.state) as db:
        assert db.execute("SELECT COUNT(*) FROM meta WHERE key LIKE 'events.%'").fetchone()[0] == 0
