"""The scenarios of `make bench` that follow one book through several runs, and the Redmine push.

Used by scripts/bench/bench.py (which holds the table, the launcher and the minimum):

- ``chain(n, ...)``: over one book of ``n`` won deals, against a dry PSA kept between runs
  (scripts/bench/bench_dry_run.py ``--psa-state``): the first run, the next run (it re-reads the
  echo of its own write-backs), an idle cycle, an incremental run after ``changed`` deals were
  edited in Salesforce, and a back-sync after ``progressed`` projects moved their percent complete
  in the PSA.
- ``structure(n, lines)``: the first run over ``n`` newly won deals with ``lines`` line items each,
  with the example structure mapping (mappings/examples/structure.yaml and its templates) and
  without its ``structure:`` section, each on a fresh book seeded alike (issue 23).
- ``push(...)``: scripts/bench/bench_push.py against the Redmine instances scripts/redmine.sh starts
  (SQLite behind WEBrick; PostgreSQL behind Puma), creates/s at each ``write_concurrency``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.fixtures.structure import use_example_structure  # noqa: E402

# The two instances `make bench BENCH_ARGS=--redmine` starts (own names, ports and state dirs:
# never the default instance on 3000 that `make test` uses; the push deletes every project).
REDMINES = {
    "sqlite": {
        "REDMINE_DB": "sqlite",
        "REDMINE_INSTANCE": "bench",
        "REDMINE_PORT": "3024",
        "REDMINE_STATE_DIR": "/tmp/redmine-bench",
    },
    "pgsql": {
        "REDMINE_DB": "pgsql",
        "REDMINE_INSTANCE": "bench-pg",
        "REDMINE_PORT": "3025",
        "REDMINE_STATE_DIR": "/tmp/redmine-bench-pg",
    },
}


def chain(bench, n: int, changed: int, progressed: int, steps: set[str]) -> list:
    """Rows of one book's runs; ``steps`` picks among first, next, idle, incremental, backsync
    (the runs before a picked one still happen: each builds on the last)."""
    rows = []
    last = max(
        i for i, s in enumerate(("first", "next", "idle", "incremental", "backsync")) if s in steps
    )
    with bench.book(n) as (emu, harness):
        state = harness.workdir / "dry-psa.pickle"
        mapping = bench._short_lookback(harness.workdir)
        harness.write_config(limits=bench.LIMITS, schedule=bench.SCHEDULE, mapping=mapping)

        def run(name: str, step: str, *extra: str, note: str = ""):
            done, calls = bench.command(
                emu,
                harness,
                [
                    sys.executable,
                    str(ROOT / "scripts/bench/bench_dry_run.py"),
                    "--config",
                    str(harness.config),
                    "--psa-state",
                    str(state),
                    *extra,
                ],
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
            counts = result["counts"]
            psa = (
                f"FakePsa {sum(result['psa_calls'].values())} ({bench._calls(result['psa_calls'])})"
            )
            written = counts.get("written", 0)
            sql = result.get("sql", {})
            row = bench.Row(
                name,
                n,
                done.wall,
                done.rss_mb,
                calls,
                bench.minimum(counts.get("extracted", 0), min(written, n)),
                psa,
                f"read {counts.get('extracted', 0):,}, created {counts.get('created', 0):,}, "
                f"updated {counts.get('updated', 0):,}, back-sync {counts.get('backsync', 0):,}, "
                f"written back {written:,}; RSS before the run (dry PSA loaded) "
                f"{result['rss_before_run_mb']} MB; state file: {sql.get('statements', 0):,} SQL "
                f"statements, {sql.get('transactions', 0):,} write transactions{note}",
                per_deal_us=done.wall / n * 1e6,
                extra={"sql": sql, "created": counts.get("created", 0)},
            )
            if step in steps:
                rows.append(row)
            time.sleep(3)  # past the 2 s lookback: the next run reads each write-back's echo once
            return row

        run("psa-sync first run, newly won (dry PSA)", "first")
        if last >= 1:
            run("psa-sync next run (re-reads its own write-backs)", "next")
        if last >= 2:
            run("psa-sync idle cycle (cron: + token)", "idle")
        if last >= 3:
            edit(emu, changed)
            run(
                f"psa-sync incremental run, {changed:,} of {n:,} changed ({100 * changed / n:g}%)",
                "incremental",
            )
        if last >= 4:
            harness.write_config(
                limits=bench.LIMITS,
                mapping=mapping,
                schedule={**bench.SCHEDULE, "backsync_interval": "1s"},
            )
            run(
                f"psa-sync back-sync of {n:,} linked projects, {progressed:,} moved in the PSA",
                "backsync",
                "--progress",
                str(progressed),
                note=f"; a Redmine lists {n:,} projects in {-(-n // 100)} pages of 100",
            )
    return rows


def structure(bench, n: int, lines: int) -> list:
    """The first run over ``n`` newly won deals of ``lines`` line items each, without and then
    with ``structure:``."""
    rows = []
    for label, planned in (("without structure", False), ("with structure: the plan made", True)):
        with bench.book(n, lines=lines) as (emu, harness):
            use_example_structure(
                harness, harness.workdir, planned, limits=bench.LIMITS, schedule=bench.SCHEDULE
            )
            done, calls = bench.command(
                emu,
                harness,
                [
                    sys.executable,
                    str(ROOT / "scripts/bench/bench_dry_run.py"),
                    "--config",
                    str(harness.config),
                ],
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
            counts = result["counts"]
            psa = (
                f"FakePsa {sum(result['psa_calls'].values())} ({bench._calls(result['psa_calls'])})"
            )
            rows.append(
                bench.Row(
                    f"psa-sync first run, newly won, {lines} line items each, {label} (dry PSA)",
                    n,
                    done.wall,
                    done.rss_mb,
                    calls,
                    least(bench, counts, lines if planned else 0),
                    psa,
                    f"read {counts.get('extracted', 0):,}, "
                    f"created {counts.get('created', 0):,}, "
                    f"children {result['children']:,} "
                    f"({counts.get('children_created', 0):,} created), "
                    f"quarantined {counts.get('quarantined', 0):,}, "
                    f"written back {counts.get('written', 0):,}; exit {result['exit']}",
                    per_deal_us=done.wall / n * 1e6,
                )
            )
    return rows


def least(bench, counts: dict, lines: int) -> int:
    """The minimum of a first run: with a structure the line items come inside the deals' pages and
    count toward their 2,000 rows (Salesforce's rule for subqueries), plus the amendments query."""
    rows = counts.get("extracted", 0) * (1 + lines)
    return bench.minimum(rows, counts.get("written", 0)) + (1 if lines else 0)


def edit(emu, changed: int) -> None:
    """``changed`` won deals edited in Salesforce now (their Amount: the project's budget moves)."""
    for i, record_id in enumerate(emu.ids("Opportunity", where="IsWon = true")[:changed]):
        emu.update("Opportunity", record_id, Amount=10_000 + i)
    # as seed_history: the run's signpost (the Date header's second) must have passed the edits
    time.sleep(max(0.0, emu.store.clock_ms() / 1000 - time.time()) + 1.0)


def push(bench, count: int, concurrencies: list[int]) -> list:
    """Creates/s at each write_concurrency on each Redmine (started here by scripts/redmine.sh)."""
    rows = []
    for db, names in REDMINES.items():
        env = {**os.environ, **names}
        started = subprocess.run(
            ["bash", str(ROOT / "scripts/redmine.sh"), "start"],
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if started.returncode != 0:
            print(
                f"  Redmine on {db} did not start (skipped): {started.stderr.strip()[-400:]}",
                file=sys.stderr,
            )
            continue
        done = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts/bench/bench_push.py"),
                "--count",
                str(count),
                "--concurrency",
                *map(str, concurrencies),
            ],
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        sys.stderr.write(done.stderr)
        results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        base = next((r["creates_per_s"] for r in results if r["concurrency"] == 1), None)
        server = "PostgreSQL 15 + Puma" if db == "pgsql" else "SQLite + WEBrick"
        for r in results:
            speedup = f", {r['creates_per_s'] / base:.2f}× sequential" if base else ""
            rows.append(
                bench.Row(
                    f"Redmine push, {server}, write_concurrency {r['concurrency']}",
                    r["count"],
                    r["wall"],
                    None,
                    {},
                    None,
                    f"Redmine {r['count']} creates",
                    f"**{r['creates_per_s']:.1f} creates/s**{speedup}; "
                    f"server 500s {r['server_500s']}, client 5xx {r['client_5xx']}, "
                    f"duplicates {r['duplicates']}, "
                    f"missing {r['missing']}, outcomes {r['outcomes']}",
                )
            )
    return rows
