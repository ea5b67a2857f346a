"""Benchmark `psa-sync daemon`: Closed Won → project latency, and what an idle cycle costs.

Prints figures, asserts nothing. Starts the Salesforce emulator in-process, runs `psa-sync daemon`
through its CLI against the local Redmine (scripts/redmine.sh start), wins ``--wins`` deals at
random moments over ``--span`` seconds, and measures for each the time from the win to its project's
link in the state file. Then it reads the run rows: Salesforce calls of each idle cycle, token
requests in all; and how long SIGTERM takes to end a slow cycle. (tests/integration/test_daemon.py
asserts the behaviour without timing bounds; the figures are here.)

    .venv/bin/python scripts/bench/bench_daemon.py [--interval 30] [--wins 50] [--span 240]

It deletes every project of that Redmine first: never point it at a real one.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sync.emulator import Emulator  # noqa: E402
from tests.fixtures.daemon_support import DaemonProcess, idle, linked, runs, wait_for  # noqa: E402
from tests.fixtures.exactly_once_support import Book  # noqa: E402
from tests.fixtures.redmine import RedmineAdmin, parse_env  # noqa: E402
from tests.fixtures.sync import DEFAULT_MAPPING, SyncHarness  # noqa: E402


def redmine_admin() -> RedmineAdmin:
    done = subprocess.run(
        ["bash", str(ROOT / "scripts/redmine.sh"), "env"], capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit("Redmine is not running: start it with scripts/redmine.sh start (as root)")
    return RedmineAdmin(parse_env(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=30.0, help="schedule.interval in seconds")
    parser.add_argument("--wins", type=int, default=50)
    parser.add_argument(
        "--span", type=float, default=240.0, help="seconds over which the wins happen"
    )
    args = parser.parse_args()
    admin = redmine_admin()
    admin.clean()
    with Emulator() as emu, tempfile.TemporaryDirectory() as tmp:
        harness = SyncHarness(emu=emu, redmine=admin, workdir=Path(tmp), mapping=DEFAULT_MAPPING)
        book = Book(emu, random.Random(1))
        book.seed(won=0, other=args.wins)
        harness.write_config(
            schedule={
                "interval": f"{args.interval:g}s",
                "backsync_interval": "5m",
                "hours_interval": "1h",
            }
        )
        daemon = DaemonProcess.start(harness)
        try:
            wait_for(lambda: runs(harness), 60, why="the first cycle")
            latencies = measure(harness, emu, book.deals, args.span, args.interval)
            time.sleep(args.interval * 2)  # a few idle cycles at the end
            rows = runs(harness)
            # SIGTERM during a slow cycle (each query 2 s): how long until the daemon exits
            emu.fault("slow", seconds=2, endpoint="queryAll")
            last = rows[-1]["id"]
            wait_for(
                lambda: any(r["status"] == "running" and r["id"] > last for r in runs(harness)),
                args.interval + 60,
                every=0.05,
                why="a cycle under way",
            )
        finally:
            code, took = daemon.stop(timeout=30)
            emu.fault("clear")
            daemon.kill()
    quiet = [r for r in rows[1:] if idle(r)]
    calls = [sum(r["api_calls"].values()) for r in quiet]
    per_idle = statistics.mean(calls) if calls else float("nan")
    endpoints = sorted({k for r in quiet for k in r["api_calls"]})
    tokens = sum(r["api_calls"].get("token", 0) for r in rows)
    print(
        f"psa-sync daemon, schedule.interval {args.interval:g}s, "
        f"{len(latencies)} deals won over {args.span:g}s"
    )
    print(
        f"  Closed Won → project latency: median {statistics.median(latencies):.1f}s, "
        f"max {max(latencies):.1f}s, min {min(latencies):.1f}s"
    )
    print(
        f"  Salesforce calls per idle cycle: {per_idle:.2f} "
        f"({len(quiet)} idle cycles; endpoints {endpoints})"
    )
    print(f"  token requests: {tokens} over {len(rows)} cycles; daemon exit {code}")
    print(
        f"  SIGTERM mid-cycle (queries slowed to 2 s) → exit: {took:.2f}s (the stop grace is 3 s)"
    )


def measure(harness, emu, deals: list[str], span: float, interval: float) -> list[float]:
    """Win each deal at a random moment within ``span``; seconds from each win to its link."""
    rng = random.Random(7)
    moments = sorted(rng.uniform(0, span) for _ in deals)
    won: dict[str, float] = {}
    done: dict[str, float] = {}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            now = time.monotonic()
            for deal in linked(harness) - set(done):
                if deal in won:
                    done[deal] = now - won[deal]
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start = time.monotonic()
    for deal, moment in zip(deals, moments, strict=True):
        time.sleep(max(0.0, start + moment - time.monotonic()))
        emu.update("Opportunity", deal, StageName="Closed Won")
        won[deal] = time.monotonic()
    wait_for(lambda: len(done) == len(deals), interval + 60, why="every won deal becomes a project")
    stop.set()
    watcher.join()
    return [done[d] for d in deals]


if __name__ == "__main__":
    main()
