"""The Salesforce calls of a fixed scenario, counted exactly: a regression in call economy fails CI.

The emulator counts every call by endpoint; the run goes through the run's own entry point
(``pipeline.run_once``) against the tests' in-memory FakePsa, so no Redmine is needed and the figures
are Salesforce's alone. `make bench` measures the same at an org's size (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from sync.config import load_settings
from sync.connections import Connections
from sync.pipeline import run_once
from tests.fixtures.emulator import seed_history
from tests.fixtures.fake_psa import FakePsa
from tests.fixtures.sync import DEFAULT_MAPPING, SyncHarness, mapping_variant

pytestmark = pytest.mark.integration

WON = 4500  # three query pages (2,000 rows a page), 23 collections of 200
CHANGED = 45  # 1% of the book edited in Salesforce: one query page, an update each, nothing written back
PROGRESSED = 450  # projects whose percent complete moved in the PSA: the back-sync writes 3 collections


def dry_run(harness: SyncHarness, psa: FakePsa) -> dict:
    """One `psa-sync run` in this process, against the dry PSA; the calls the org counted."""
    harness.emu.reset_calls()
    settings = load_settings(harness.config, environ=harness.env())
    connections = Connections(settings)
    connections.psa = psa
    result = run_once(settings, connected=connections)
    assert result.exit_code == 0, result.error
    return {"calls": harness.emu.calls_snapshot(), "counts": result.counts}


def test_plan_first_run_next_run_idle_incremental_and_backsync_spend_exactly_the_calls_they_must(
        emulator, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seed_history(emulator, WON, won_ratio=1.0)
    dry = SimpleNamespace(env=SimpleNamespace(url="http://127.0.0.1:9", api_key="not-a-key"))
    harness = SyncHarness(emu=emulator, redmine=dry, workdir=tmp_path, mapping=DEFAULT_MAPPING)
    emulator.set_budget(used=0, max=1_000_000)
    limits = {"max_org_api_percent": 100, "max_calls_per_run": 100_000}
    mapping = mapping_variant(Path(tmp_path), ("lookback: 10m", "lookback: 1s"))
    harness.write_config(limits=limits, mapping=mapping, schedule={"backsync_interval": "1h", "hours_interval": "1h"})
    psa = FakePsa("http://127.0.0.1:9")
    pages = math.ceil(WON / 2000)

    emulator.reset_calls()  # plan: the next run's pages and nothing else; its PSA URL answers nobody
    planned = harness.cli("plan", "--json")
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["counts"]["creates"] == WON
    assert emulator.calls_snapshot() == {"token": 1, "queryAll": 1, "queryMore": pages - 1}

    first = dry_run(harness, psa)
    assert first["counts"]["created"] == WON
    # One token, the window's pages, and one write-back per deal: its link and its first back-sync
    # values go together at the end of the run, 200 deals a call (before: the links of every full 200
    # went as the pages were done, and the statuses after back-sync wrote each deal a second time).
    assert first["calls"] == {"token": 1, "queryAll": 1, "queryMore": pages - 1, "composite": math.ceil(WON / 200)}

    time.sleep(2)  # past the 1 s lookback, so the echo of the write-backs is read by one run only
    next_run = dry_run(harness, psa)  # reads the echo of its own write-backs once, writes nothing
    assert next_run["counts"]["created"] == 0 and next_run["counts"]["extracted"] == WON
    assert next_run["calls"] == {"token": 1, "queryAll": 1, "queryMore": pages - 1}

    time.sleep(2)
    idle = dry_run(harness, psa)
    assert idle["counts"]["extracted"] == 0
    assert idle["calls"] == {"token": 1, "queryAll": 1}

    # 1% of the book edited in Salesforce: one query page holds them; each is an update in the PSA and
    # nothing goes back to Salesforce (the links are unchanged, the back-sync is not due).
    for i, record_id in enumerate(emulator.ids("Opportunity")[:CHANGED]):
        emulator.update("Opportunity", record_id, Amount=10_000 + i)
    time.sleep(max(0.0, emulator.store.clock_ms() / 1000 - time.time()) + 1.0)  # the signpost passes the edits
    incremental = dry_run(harness, psa)
    assert (incremental["counts"]["extracted"], incremental["counts"]["updated"]) == (CHANGED, CHANGED)
    assert incremental["calls"] == {"token": 1, "queryAll": 1}

    # The back-sync due: the PSA lists every linked project (one delivery call), and only the projects
    # whose percent complete moved are written back, 200 a call.
    time.sleep(2)
    for key in list(psa.projects)[:PROGRESSED]:
        psa.values[key]["percent_complete"] = 55
    harness.write_config(limits=limits, mapping=mapping, schedule={"backsync_interval": "1s", "hours_interval": "1h"})
    # read 1,000 links at a time (memory holds a chunk): more PSA listings, the same Salesforce calls
    monkeypatch.setattr("sync.backsync.delivery.CHUNK", 1000)
    asked, delivery = [], psa.delivery
    monkeypatch.setattr(psa, "delivery", lambda refs, hours: asked.append(len(refs)) or delivery(refs, hours))
    backsync = dry_run(harness, psa)
    assert asked == [1000, 1000, 1000, 1000, 500]
    assert (backsync["counts"]["backsync"], backsync["counts"]["written"]) == (PROGRESSED, PROGRESSED)
    assert backsync["calls"] == {"token": 1, "queryAll": 1, "composite": math.ceil(PROGRESSED / 200)}


def test_the_pipeline_stream_costs_no_salesforce_call(emulator, tmp_path, monkeypatch):
    """Issue 15: the pipeline's deals come in the run's one query (its criteria OR-ed into the WHERE):
    the same calls as the won deals alone, and every open deal of the criteria lands in the pipeline table."""
    seed_history(emulator, 600, won_ratio=0.5)  # one page either way: the open deals add rows, not calls
    won = len(emulator.ids("Opportunity", where="IsWon = true"))
    in_pipeline = set(emulator.ids("Opportunity", where="IsClosed = false AND Probability >= 50"))
    assert won and in_pipeline and won + len(in_pipeline) < 2000
    dry = SimpleNamespace(env=SimpleNamespace(url="http://127.0.0.1:9", api_key="not-a-key"))
    calls = {}
    for name, section in (("won-only", ""),
                          ("with-pipeline", '\npipeline:\n  criteria: "IsClosed = false AND Probability >= 50"\n')):
        workdir = tmp_path / name
        workdir.mkdir()
        monkeypatch.chdir(workdir)
        mapping = mapping_variant(workdir, ("lookback: 10m", "lookback: 1s"))
        mapping.write_text(mapping.read_text() + section)
        harness = SyncHarness(emu=emulator, redmine=dry, workdir=workdir, mapping=mapping)
        harness.write_config(limits={"max_org_api_percent": 100, "max_calls_per_run": 100_000},
                             schedule={"backsync_interval": "1h", "hours_interval": "1h"})
        run = dry_run(harness, FakePsa("http://127.0.0.1:9"))
        calls[name] = run["calls"]
        assert run["counts"]["created"] == won  # the pipeline makes no project without create_projects
    assert calls["with-pipeline"] == calls["won-only"] == \
        {"token": 1, "queryAll": 1, "composite": math.ceil(won / 200)}
    with sqlite3.connect(tmp_path / "with-pipeline" / harness.state_path) as db:
        opened = {row[0] for row in db.execute("SELECT record_id FROM pipeline WHERE status = 'open'")}
    assert opened == in_pipeline
