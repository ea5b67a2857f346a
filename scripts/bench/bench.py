"""`make bench`: psa-sync measured at an org's size, beside the hand-written baseline, in ONE table.

Starts the Salesforce emulator in this process, seeds it (``emu.seed``), and runs each scenario as a
user would, in a subprocess (the real CLI, or the run's entry point against a dry PSA), so wall time
and peak RSS are the command's own (``os.wait4`` in a small launcher, see PEAK), never this
process's. Salesforce calls come from the emulator's counter, by endpoint. Prints figures, asserts
nothing (see docs/benchmarks.md).

    .venv/bin/python scripts/bench/bench.py [--deals 10000] [--plan 10000,100000]
        [--backfill 100000] [--full]

The minimum a run must spend: ⌈rows read/2000⌉ query calls + ⌈deals written back/200⌉ collections +
1 token (each deal's write-back fields in one record of a collection: a deal written twice counts
once). PSA: `plan` and `backfill --dry-run` are given a loopback URL nobody listens on (they must
not ask it); the runs go against the tests' in-memory FakePsa (a dry PSA:
scripts/bench/bench_dry_run.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import bench_scale  # noqa: E402

from sync.emulator import Emulator  # noqa: E402
from tests.fixtures.emulator import plannable, seed_history  # noqa: E402
from tests.fixtures.sync import CLI, DEFAULT_MAPPING, SyncHarness  # noqa: E402

PSA_URL = (
    "http://127.0.0.1:9"  # the discard port: nobody answers, so a PSA call would fail the command
)
LIMITS = {"max_org_api_percent": 100, "max_calls_per_run": 10_000_000}
SCHEDULE = {
    "backsync_interval": "1h",
    "hours_interval": "1h",
}  # the idle cycle is outside both intervals
QUERY_ENDPOINTS = ("query", "queryAll", "queryMore")


def minimum(rows: int, writes: int = 0) -> int:
    return max(1, math.ceil(rows / 2000)) + math.ceil(writes / 200) + 1  # a run asks at least once


@dataclass
class Row:
    scenario: str
    size: int
    wall: float
    rss_mb: float | None
    calls: dict[str, int]
    minimum: int | None
    psa: str = "-"
    note: str = ""
    per_deal_us: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@dataclass
class Measured:
    code: int
    wall: float
    rss_mb: float
    stdout: str
    stderr: str


# Run a command and write its peak RSS (KiB) to a file. The command is started by this small
# process, not by the bench: Linux folds the RSS of the process that forks into the child's
# ru_maxrss (the forked copy, up to exec), so a child of the bench, which holds the emulator's book,
# would report the book too.
PEAK = """import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measure(cmd: list[str], env: dict[str, str], cwd: Path) -> Measured:
    """Run ``cmd``; its wall time and its own peak RSS (its ru_maxrss alone, see PEAK)."""
    with (
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
        tempfile.NamedTemporaryFile("r") as peak,
    ):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", PEAK, peak.name, *cmd],
            stdout=out,
            stderr=err,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        rss_kib = int(Path(peak.name).read_text() or 0)
        return Measured(done.returncode, wall, rss_kib / 1024, out.read(), err.read())


@contextmanager
def book(n: int, won_ratio: float = 1.0, lines: int = 0):
    """A fresh emulator seeded with ``n`` deals (``lines`` line items on each won one), and a
    harness whose config points at it."""
    with (
        Emulator(daily_limit=1_000_000_000) as emu,
        tempfile.TemporaryDirectory(prefix="psa-bench-") as tmp,
    ):
        started = time.perf_counter()
        seed_history(emu, n, won_ratio=won_ratio)
        if lines:
            # every won deal ends after it starts: the same projects with or without plans
            plannable(emu)
            emu.seed_line_items(lines, seed=42)
        print(
            f"  seeded {n:,} deals ({lines} line items each won one) in "
            f"{time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        dry = SimpleNamespace(env=SimpleNamespace(url=PSA_URL, api_key="bench-not-a-key"))
        harness = SyncHarness(emu=emu, redmine=dry, workdir=Path(tmp), mapping=DEFAULT_MAPPING)
        harness.write_config(limits=LIMITS, schedule=SCHEDULE)
        yield emu, harness


def command(emu, harness: SyncHarness, cmd: list[str]) -> tuple[Measured, dict[str, int]]:
    emu.reset_calls()
    done = measure(cmd, harness.env(), harness.workdir)
    if done.code not in (0, 1):
        sys.exit(
            f"{' '.join(cmd)} exited {done.code}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
    return done, emu.calls_snapshot()


def psa_sync(harness: SyncHarness, *args: str) -> list[str]:
    return [*CLI, "--config", str(harness.config), *args]


def baseline(n: int) -> Row:
    with book(n) as (emu, harness):
        done, calls = command(
            emu,
            harness,
            [
                sys.executable,
                str(ROOT / "scripts/bench/bench_baseline.py"),
                "--login-url",
                emu.url,
                "--client-id",
                emu.client_id,
                "--client-secret",
                emu.client_secret,
                "--ca",
                str(emu.ca_file),
            ],
        )
        linked = json.loads(done.stdout)["linked"]
    return Row(
        "BASELINE: hand-written loop (simple-salesforce)",
        n,
        done.wall,
        done.rss_mb,
        calls,
        minimum(n, linked),
        "dry (invented ids)",
        "query_all + 2 updates per deal",
    )


def _short_lookback(workdir: Path) -> Path:
    text = DEFAULT_MAPPING.read_text()
    assert "lookback: 10m" in text
    path = workdir / "mapping-lookback-2s.yaml"
    path.write_text(text.replace("lookback: 10m", "lookback: 2s", 1))
    return path


def plan_on(emu, harness: SyncHarness, n: int) -> Row:
    done, calls = command(emu, harness, psa_sync(harness, "plan", "--json"))
    counts = json.loads(done.stdout)["counts"]
    return Row(
        "psa-sync plan",
        n,
        done.wall,
        done.rss_mb,
        calls,
        minimum(n),
        "none (must not call)",
        f"{counts['creates']:,} creates",
        per_deal_us=done.wall / n * 1e6,
    )


def plan(n: int) -> Row:
    with book(n) as (emu, harness):
        return plan_on(emu, harness, n)


def plan_and_backfill(n: int) -> list[Row]:
    """`plan`, then `backfill --dry-run` through Bulk 2.0 and REST, on one book (none writes)."""
    since, until = (date.today() - timedelta(days=400)).isoformat(), date.today().isoformat()
    rows = []
    with book(n) as (emu, harness):
        rows.append(plan_on(emu, harness, n))
        for reader, threshold in (("Bulk API 2.0", 0), ("REST", 1_000_000_000)):
            harness.write_config(limits={**LIMITS, "bulk_threshold": threshold}, schedule=SCHEDULE)
            done, calls = command(
                emu,
                harness,
                psa_sync(
                    harness, "backfill", "--since", since, "--until", until, "--dry-run", "--json"
                ),
            )
            progress = json.loads(done.stdout)
            rows.append(
                Row(
                    f"psa-sync backfill --dry-run via {reader}",
                    n,
                    done.wall,
                    done.rss_mb,
                    calls,
                    minimum(progress["done"]),
                    "none",
                    f"read {progress['done']:,} ({progress['reader']})",
                    per_deal_us=done.wall / n * 1e6,
                )
            )
    return rows


def _calls(calls: dict[str, int]) -> str:
    return " ".join(f"{k} {v}" for k, v in sorted(calls.items())) or "-"


def table(rows: list[Row]) -> str:
    head = (
        "| scenario | size | wall s | µs/deal | peak RSS MB | Salesforce calls by endpoint "
        "| SF total | minimum | SF ÷ min | PSA | notes |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        per = f"{r.per_deal_us:.0f}" if r.per_deal_us is not None else "-"
        ratio = f"{r.total / r.minimum:.2f}" if r.minimum else "-"
        rss = f"{r.rss_mb:.0f}" if r.rss_mb is not None else "-"
        lines.append(
            f"| {r.scenario} | {r.size:,} | {r.wall:.1f} | {per} | {rss} | {_calls(r.calls)} | "
            f"{r.total:,} | {r.minimum if r.minimum is not None else '-'} | {ratio} | "
            f"{r.psa} | {r.note} |"
        )
    return "\n".join(lines)


def ratios(rows: list[Row]) -> list[str]:
    out = []
    base = next((r for r in rows if r.scenario.startswith("BASELINE")), None)
    first = next((r for r in rows if r.scenario.startswith("psa-sync first run")), None)
    if base and first:
        out.append(
            f"baseline ÷ psa-sync, Salesforce calls at {first.size:,} newly won deals: "
            f"{base.total:,} ÷ {first.total:,} = {base.total / first.total:.0f}×; wall "
            f"{base.wall:.1f} s ÷ {first.wall:.1f} s = {base.wall / first.wall:.1f}×"
        )
    for r in rows:
        if r.scenario.startswith("psa-sync first run") and r.extra.get("created"):
            sql, created = r.extra["sql"], r.extra["created"]
            out.append(
                f"first run over {r.size:,}: state file {sql['statements']:,} SQL statements "
                f"({sql['statements'] / created:.3f} per created deal), "
                f"{sql['transactions']:,} write transactions "
                f"({sql['transactions'] / created:.4f} per created deal); "
                f"{r.per_deal_us / 1000:.2f} ms a deal"
            )
    plans = [r for r in rows if r.scenario == "psa-sync plan"]
    if len(plans) > 1:
        low, high = min(p.per_deal_us for p in plans), max(p.per_deal_us for p in plans)
        out.append(
            "plan per deal: "
            + ", ".join(f"{p.size:,} → {p.per_deal_us:.0f} µs" for p in plans)
            + f" (spread {100 * (high - low) / low:.0f}% of the fastest); peak RSS "
            + ", ".join(f"{p.size:,} → {p.rss_mb:.0f} MB" for p in plans)
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--deals", type=int, default=10_000, help="newly won deals: baseline vs first run"
    )
    parser.add_argument(
        "--plan", default="10000,100000", help="sizes of the plan scenario (comma-separated)"
    )
    parser.add_argument(
        "--backfill", type=int, default=100_000, help="deals of the backfill scenario (0: skip)"
    )
    parser.add_argument(
        "--scale",
        type=int,
        help="deals of the first, next and incremental runs at an org's "
        "size (default 100,000 with --full, else 0: skipped)",
    )
    parser.add_argument(
        "--changed",
        type=float,
        default=1.0,
        help="percent of --scale changed for the incremental run",
    )
    parser.add_argument(
        "--lines",
        type=int,
        default=5,
        help="line items per deal of the first run with and without structure: (0: skip)",
    )
    parser.add_argument("--full", action="store_true", help="also plan over 1,000,000 deals")
    parser.add_argument(
        "--redmine",
        action="store_true",
        help=(
            "also the Redmine push on SQLite and PostgreSQL (starts both: scripts/redmine.sh, root)"
        ),
    )
    parser.add_argument(
        "--push", type=int, default=200, help="projects created per write_concurrency (--redmine)"
    )
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    sizes = sorted(
        {int(s) for s in args.plan.split(",") if s} | ({1_000_000} if args.full else set())
    )
    started = time.perf_counter()
    rows = [baseline(args.deals)]
    if args.deals in sizes:
        rows.append(plan(args.deals))
    rows += bench_scale.chain(
        sys.modules[__name__],
        args.deals,
        max(1, round(args.deals * args.changed / 100)),
        max(1, args.deals // 10),
        {"first", "next", "idle", "incremental", "backsync"},
    )
    if args.lines:
        rows += bench_scale.structure(sys.modules[__name__], args.deals, args.lines)
    if args.scale is None:
        args.scale = 100_000 if args.full else 0
    if args.scale:
        changed = max(1, round(args.scale * args.changed / 100))
        rows += bench_scale.chain(
            sys.modules[__name__], args.scale, changed, 0, {"first", "next", "incremental"}
        )
    for n in sizes:
        if n == args.deals:
            continue
        rows += plan_and_backfill(n) if n == args.backfill else [plan(n)]
    if args.backfill and args.backfill not in sizes:
        rows += plan_and_backfill(args.backfill)[1:]
    if args.redmine:
        rows += bench_scale.push(sys.modules[__name__], args.push, [1, 2, 4, 8])
    order = (
        "BASELINE",
        "psa-sync first",
        "psa-sync next",
        "psa-sync idle",
        "psa-sync incremental",
        "psa-sync back-sync",
        "psa-sync plan",
        "psa-sync backfill",
        "Redmine push",
    )
    rows.sort(
        key=lambda r: next((i for i, p in enumerate(order) if r.scenario.startswith(p)), len(order))
    )
    text = "\n".join(
        [
            table(rows),
            "",
            *ratios(rows),
            f"machine: {os.cpu_count()} cpus; bench took {time.perf_counter() - started:.0f} s",
        ]
    )
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
