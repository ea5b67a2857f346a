"""Benchmark the daemon's event path (``events:``) beside the 30 s poll, in one run.

Prints figures, asserts nothing. Starts the Salesforce emulator in-process (it serves the Pub/Sub
API), runs `psa-sync daemon` through its CLI against the local Redmine (scripts/redmine.sh start)
twice:

1. ``events.enabled`` (``safety_poll: 1h``): wins ``--wins`` deals at random moments over ``--span``
   seconds and measures each from the win to its link in the state file. The win's time is taken
   just before the write that commits it, so it is at or before the event's ``commitTimestamp``: the
   figure is an upper bound of commitTimestamp → linked. Then ``--idle`` seconds with nothing
   happening: the Salesforce REST calls the emulator counted in that time (the safety poll is not
   due).
2. the poll only, ``schedule.interval 30s``: the same wins and the same idle time.

    .venv/bin/python scripts/bench/bench_events.py [--wins 20] [--span 60] [--idle 60]

It deletes every project of that Redmine first: never point it at a real one.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from bench_daemon import measure, redmine_admin  # noqa: E402

from sync.emulator import Emulator  # noqa: E402
from tests.fixtures.daemon_support import DaemonProcess, runs, wait_for  # noqa: E402
from tests.fixtures.exactly_once_support import Book  # noqa: E402
from tests.fixtures.sync import DEFAULT_MAPPING, SyncHarness  # noqa: E402

REST = ("query", "queryAll", "queryMore", "composite", "token", "describe", "limits")


def phase(admin, args, events: bool) -> dict:
    admin.clean()
    with Emulator() as emu, tempfile.TemporaryDirectory() as tmp:
        harness = SyncHarness(emu=emu, redmine=admin, workdir=Path(tmp), mapping=DEFAULT_MAPPING)
        book = Book(emu, random.Random(1))
        book.seed(won=0, other=args.wins)
        extra = (
            {"events": {"enabled": True, "pubsub_url": emu.pubsub_endpoint, "safety_poll": "1h"}}
            if events
            else {}
        )
        harness.write_config(
            schedule={"interval": "30s", "backsync_interval": "1h", "hours_interval": "1h"}, **extra
        )
        daemon = DaemonProcess.start(harness)
        try:
            wait_for(lambda: runs(harness), 60, why="the first cycle")
            if events:
                wait_for(
                    lambda: (
                        emu.pubsub_snapshot().get("streams_open", 0) >= 1
                        and any(r["mode"] == "events" for r in runs(harness))
                    ),
                    60,
                    why="the stream",
                )
            latencies = measure(harness, emu, book.deals, args.span, 30.0)
            time.sleep(2)  # the last write-back and its echo
            before = emu.calls_snapshot()
            time.sleep(args.idle)
            after = emu.calls_snapshot()
        finally:
            code, _ = daemon.stop(timeout=30)
            daemon.kill()
    idle_calls = {
        k: after.get(k, 0) - before.get(k, 0) for k in REST if after.get(k, 0) - before.get(k, 0)
    }
    return {"latencies": latencies, "idle_calls": idle_calls, "exit": code}


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wins", type=int, default=20)
    parser.add_argument(
        "--span", type=float, default=60.0, help="seconds over which the wins happen"
    )
    parser.add_argument(
        "--idle", type=float, default=60.0, help="idle seconds in which REST calls are counted"
    )
    args = parser.parse_args()
    admin = redmine_admin()
    results = {
        "events (safety_poll 1h)": phase(admin, args, True),
        "poll (schedule.interval 30s)": phase(admin, args, False),
    }
    print(f"psa-sync daemon: {args.wins} deals won over {args.span:g}s, then {args.idle:g}s idle")
    for name, r in results.items():
        lat = r["latencies"]
        per_day = sum(r["idle_calls"].values()) * 86400 / args.idle
        print(
            f"  {name:<30} win → linked: p50 {statistics.median(lat):.2f}s, p95 {p95(lat):.2f}s, "
            f"max {max(lat):.2f}s; REST calls while idle: {r['idle_calls'] or 0} "
            f"(≈ {per_day:,.0f}/day); exit {r['exit']}"
        )


if __name__ == "__main__":
    main()
