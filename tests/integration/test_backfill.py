"""`psa-sync backfill`: history by CloseDate, exactly once, resumable, beside the scheduled runs."""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.fixtures.exactly_once_support import (
    KILLED,
    Book,
    assert_exactly_once,
    run_killed_after,
    state_rows,
)
from tests.fixtures.sync import CLI, today_mapping

pytestmark = pytest.mark.integration

LIMITS = {"max_org_api_percent": 80, "max_calls_per_run": 5000}
SOAK = os.environ.get("PSA_SYNC_SOAK") == "1"
RACE_ROUNDS = 10
SOAK_RACE_ROUNDS = int(os.environ.get("PSA_SYNC_SOAK_RACE_ROUNDS", "200"))
RUNS_PER_ROUND = 3


def history(emulator, n: int, year: int = 2025, rng_seed: int = 11) -> Book:
    """``n`` deals won in ``year``, last touched then too: no run window ever sees them."""
    book = Book(emulator, random.Random(rng_seed))
    start = datetime(year, 1, 1, tzinfo=UTC)
    for i in range(n):
        book.deal(
            CloseDate=(date(year, 1, 1) + timedelta(days=i % 365)).isoformat(),
            _stamp=start + timedelta(hours=i),
        )
    return book


def backfill(harness, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return harness.cli("backfill", *args, timeout=timeout)


def as_json(done: subprocess.CompletedProcess) -> dict:
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout)


def test_a_year_of_history_is_planned_then_made_once_and_a_second_pass_changes_nothing(
    harness, emulator, redmine, tmp_path
):
    book = history(emulator, 300)
    harness.write_config(mapping=today_mapping(tmp_path), limits=LIMITS)
    harness.run()
    assert redmine.projects() == []  # the scheduled run never sees the history

    planned = as_json(
        backfill(harness, "--since", "2025-01-01", "--until", "2025-12-31", "--dry-run", "--json")
    )
    assert planned["counts"]["created"] == 300 and planned["dry_run"] is True
    assert len(planned["examples"]["created"]) == 5
    assert redmine.projects() == [] and harness.status()["counts"]["links"] == 0

    done = backfill(harness, "--since", "2025-01-01", "--until", "2025-12-31")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "300/300" in done.stdout
    assert_exactly_once(harness)
    watermark = state_rows(harness.state, "watermarks")[0]["value"]

    again = as_json(backfill(harness, "--since", "2025-01-01", "--until", "2025-12-31", "--json"))
    assert again["exit_code"] == 0 and again["counts"].get("created", 0) == 0
    assert again["counts"]["unchanged"] == 300
    assert (
        state_rows(harness.state, "watermarks")[0]["value"] == watermark
    )  # never moved by a backfill
    status = harness.status()
    assert status["backfill"]["finished_at"] and status["backfill"]["done"] == 300
    assert len(book.deals) == len(redmine.projects())


@pytest.mark.parametrize(
    "args,words",
    [
        (("--since", "2025-12-31", "--until", "2025-01-01"), "is after --until"),
        (("--since", "2025-13-01"), "is not a date"),
        (("--since", "yesterday"), "is not a date"),
    ],
)
def test_a_range_that_is_not_one_exits_2_and_writes_nothing(
    harness, emulator, redmine, args, words
):
    harness.write_config()
    done = backfill(harness, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr
    assert not harness.state.exists()


def test_an_overlapping_backfill_is_refused_while_one_is_unfinished_and_the_same_command_resumes(
    harness, emulator, redmine, tmp_path
):
    history(emulator, 60)
    harness.write_config(mapping=today_mapping(tmp_path), limits=LIMITS)
    harness.extra_env["PSA_SYNC_CRASH_AT"] = "before-commit:2"  # killed in its second window
    killed = backfill(
        harness, "--since", "2025-01-01", "--until", "2025-12-31", "--batch-size", "20"
    )
    assert killed.returncode == KILLED, killed.stdout + killed.stderr
    harness.extra_env.pop("PSA_SYNC_CRASH_AT")
    before = harness.status()["backfill"]
    assert before["finished_at"] is None and 0 < before["done"] < 60

    refused = backfill(harness, "--since", "2025-06-01", "--until", "2026-06-01")
    assert (
        refused.returncode == 2
        and "unfinished backfill of 2025-01-01..2025-12-31" in refused.stderr
    )
    assert harness.status()["backfill"] == before  # nothing written

    resumed = backfill(
        harness, "--since", "2025-01-01", "--until", "2025-12-31", "--batch-size", "20"
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert_exactly_once(harness)


@pytest.mark.subprocess
def test_a_scheduled_run_during_a_backfill_waits_at_most_one_window_and_doubles_nothing(
    harness, emulator, redmine, tmp_path
):
    history(emulator, 150)
    harness.write_config(mapping=today_mapping(tmp_path), limits=LIMITS)
    command = [
        *CLI,
        "--config",
        str(harness.config),
        "backfill",
        "--since",
        "2025-01-01",
        "--until",
        "2025-12-31",
        "--batch-size",
        "25",
        "--json",
    ]
    proc = subprocess.Popen(
        command,
        env=harness.env(),
        cwd=harness.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    codes = []
    while proc.poll() is None and len(codes) < 40:
        codes.append(harness.run(expect=None).returncode)
        time.sleep(0.5)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, out + err
    # A run that finds a backfill holding the lock waits for its window to end, then runs: no 75s.
    assert codes and set(codes) == {0}, codes
    assert as_json(subprocess.CompletedProcess([], 0, out, err))["longest_hold_s"] < 60
    assert_exactly_once(harness)


def start(harness, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, "--config", str(harness.config), *args],
        env=harness.env(),
        cwd=harness.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def race_round(harness, tmp_path, round_: int) -> list[str]:
    """A backfill and a scheduled run started together on a state file that does not exist yet (both
    would create and migrate it), then more runs while the backfill goes on. What did not exit 0."""
    harness.state_path = f"state/round-{round_}/psa-sync.sqlite"
    harness.write_config(mapping=today_mapping(tmp_path), limits=LIMITS)
    backfilling = start(
        harness, "backfill", "--since", "2025-01-01", "--until", "2025-12-31", "--window-size", "2"
    )
    failures = []
    for n in range(RUNS_PER_ROUND):
        if n and backfilling.poll() is not None:
            break
        run = start(harness, "run")
        out, err = run.communicate(timeout=600)
        if run.returncode != 0:
            failures.append(f"round {round_}, run {n}: exit {run.returncode}: {err.strip()[-400:]}")
    out, err = backfilling.communicate(timeout=600)
    if backfilling.returncode != 0:
        failures.append(
            f"round {round_}, backfill: exit {backfilling.returncode}: {err.strip()[-400:]}"
        )
    return failures


def race(harness, emulator, tmp_path, rounds: int) -> None:
    history(emulator, 6)
    failures = [
        failure for round_ in range(rounds) for failure in race_round(harness, tmp_path, round_)
    ]
    # Never a 74 ("the disk refused") nor a 75: a run waits for the backfill's window, the backfill
    # for the run, and neither ever meets SQLite's write lock held by the other.
    assert failures == []
    assert_exactly_once(
        harness
    )  # every round after the first adopts what the first made: never a second


@pytest.mark.subprocess
def test_backfill_and_scheduled_runs_started_together_again_and_again_all_exit_0_and_double_nothing(
    harness, emulator, redmine, tmp_path
):
    race(harness, emulator, tmp_path, RACE_ROUNDS)


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.skipif(not SOAK, reason="the long race runs with `make soak` (PSA_SYNC_SOAK=1)")
def test_soak_a_backfill_raced_by_scheduled_runs_hundreds_of_times(
    harness, emulator, redmine, tmp_path
):
    race(harness, emulator, tmp_path, SOAK_RACE_ROUNDS)


@pytest.mark.subprocess
def test_a_bulk_backfill_killed_again_and_again_resumes_and_links_every_deal_once(
    harness, emulator, redmine, tmp_path
):
    history(emulator, 240)
    harness.write_config(mapping=today_mapping(tmp_path), limits={**LIMITS, "bulk_threshold": 10})
    args = ("backfill", "--since", "2025-01-01", "--until", "2025-12-31", "--batch-size", "20")
    codes = [run_killed_after(harness, seconds, args=args) for seconds in (3, 4, 5, 6)]
    done = backfill(harness, *args[1:], "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert as_json(done)["reader"] == "bulk"
    assert KILLED in codes, codes
    assert_exactly_once(harness)
    assert {e["endpoint"] for e in emulator.log_snapshot()} >= {"bulk2_create", "bulk2_results"}


def test_fifty_thousand_deals_plan_through_bulk_with_fewer_calls_than_rest(
    harness, emulator, redmine, tmp_path
):
    emulator.seed(50_000, won_ratio=1.0, seed=5)
    last_year = (date.today() - timedelta(days=366)).isoformat()
    harness.write_config(
        mapping=today_mapping(tmp_path), limits={**LIMITS, "bulk_threshold": 10_000}
    )
    emulator.reset_calls()
    bulk = as_json(backfill(harness, "--since", last_year, "--dry-run", "--json"))
    bulk_calls = emulator.calls_snapshot()
    harness.write_config(
        mapping=today_mapping(tmp_path), limits={**LIMITS, "bulk_threshold": 100_000}
    )
    emulator.reset_calls()
    rest = as_json(backfill(harness, "--since", last_year, "--dry-run", "--json"))
    rest_calls = emulator.calls_snapshot()

    assert bulk["reader"] == "bulk" and rest["reader"] == "rest"
    assert bulk["counts"] == rest["counts"] and bulk["counts"]["created"] == 50_000
    # REST: the COUNT(), then 25 pages of 2,000 (one query, 24 queryMore).
    assert rest_calls == {"token": 1, "query": 2, "queryMore": 24}
    # Bulk: the COUNT(), a describe of each object the CSV is typed from (Opportunity, Account), the
    # job, the emulator's two polls until JobComplete, one result set of 50,000 rows, the deletion.
    assert bulk_calls == {
        "token": 1,
        "query": 1,
        "describe": 2,
        "bulk2_create": 1,
        "bulk2_poll": 2,
        "bulk2_results": 1,
        "bulk2_delete": 1,
    }
    assert sum(bulk_calls.values()) == 9 < sum(rest_calls.values()) == 27


def test_every_window_maps_with_the_mapping_loaded_at_the_start_though_the_file_changes_in_between(
    harness, emulator, redmine, tmp_path, monkeypatch
):
    """The command loads the mapping once: an edit of the file mid-backfill waits for the next
    command (as it waits for the next run), and one backfill never makes projects by two
    mappings."""
    from sync.config import load_settings
    from sync.mapping.loader import load_mapping
    from sync.orchestrator import backfill as backfill_module

    history(emulator, 12)
    path = today_mapping(tmp_path)
    harness.write_config(mapping=path, limits=LIMITS)
    monkeypatch.chdir(harness.workdir)
    monkeypatch.setattr(backfill_module, "TURN_PAUSE_SECONDS", 0)
    settings = load_settings(harness.config, harness.env())
    mapping = load_mapping(settings.mapping)
    windows = []

    def edit_after_the_first_window(progress) -> None:
        windows.append(progress.done)
        text = path.read_text()
        path.write_text(text.replace('"{Account.Name|?} - {Name}"', '"EDITED {Name}"'))

    done = backfill_module.run_backfill(
        settings,
        mapping,
        date(2025, 1, 1),
        date(2025, 12, 31),
        batch_rows=4,
        reporter=edit_after_the_first_window,
        environ=harness.env(),
    )

    assert done.exit_code == 0 and windows == [4, 8, 12]
    assert (
        load_mapping(path).fingerprint != mapping.fingerprint
    )  # the file did change after window 1
    names = [p["name"] for p in redmine.projects()]
    assert len(names) == 12 and not [n for n in names if n.startswith("EDITED")]
    assert {row["mapping"] for row in state_rows(harness.state, "links")} == {mapping.fingerprint}
