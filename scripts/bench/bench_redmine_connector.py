"""Benchmark the Redmine connector against the local Redmine (scripts/redmine.sh start).

Prints figures, asserts nothing: project creates per second at several write concurrencies
(Redmine on SQLite serialises writes and answers 500 "database is locked" when pushed hard, which
the connector reports as "exists"/"unknown" after a lookup), then the cost of the read paths the
pipeline uses every run: find() of many keys, list_linked(), delivery() with and without hours.

    .venv/bin/python scripts/bench/bench_redmine_connector.py [--count 60] [--concurrency 1 2 4 8]

It deletes every project of that Redmine before and after each round: never point it at a real one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sync.connectors.http import build_session  # noqa: E402
from sync.connectors.psa.base import NewProject  # noqa: E402
from sync.connectors.psa.redmine.connector import RedmineConnector  # noqa: E402
from tests.fixtures.redmine import RedmineAdmin, parse_env  # noqa: E402


def redmine_env():
    done = subprocess.run(
        ["bash", str(ROOT / "scripts/redmine.sh"), "env"], capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit("Redmine is not running: start it with scripts/redmine.sh start (as root)")
    return parse_env(done.stdout)


def rows(count: int, round_no: int) -> list[NewProject]:
    return [
        NewProject(
            f"006BENCH{round_no:02d}{n:06d}QAA",
            {
                "name": f"Bench deal {n}",
                "customer": "Bench Corp",
                "budget": Decimal("1000.50"),
                "billing_type": "Fixed Fee",
            },
        )
        for n in range(count)
    ]


def connector(env, concurrency: int) -> RedmineConnector:
    session = build_session(ca_bundle=None, timeout=30, retries=3)
    return RedmineConnector(env.url, env.api_key, session=session, write_concurrency=concurrency)


def bench_creates(env, admin: RedmineAdmin, count: int, concurrencies: list[int]) -> None:
    print(f"creates of {count} projects (each round starts from an empty Redmine)")
    for round_no, concurrency in enumerate(concurrencies):
        admin.clean()
        psa = connector(env, concurrency)
        psa.describe()  # resolve custom fields outside the timing
        batch = rows(count, round_no)
        start = time.perf_counter()
        results = psa.create(batch)
        elapsed = time.perf_counter() - start
        outcomes = dict(Counter(r.outcome for r in results))
        print(
            f"  write_concurrency={concurrency}: {count / elapsed:6.1f} projects/s "
            f"({elapsed:5.2f} s)  outcomes={outcomes}  projects in Redmine={admin.count()}"
        )


def bench_reads(env, admin: RedmineAdmin, count: int) -> None:
    admin.clean()
    psa = connector(env, 2)
    created = [r.ref for r in psa.create(rows(count, 99))]
    for ref in created[:5]:
        admin.log_time(ref.id, 1.5)
    print(f"reads over {count} linked projects")
    for label, call in [
        ("find(all keys)", lambda: psa.find([r.key for r in created])),
        ("list_linked()", psa.list_linked),
        ("delivery(hours=False)", lambda: psa.delivery(created, hours=False)),
        ("delivery(hours=True)", lambda: psa.delivery(created, hours=True)),
    ]:
        start = time.perf_counter()
        call()
        print(f"  {label:24s} {time.perf_counter() - start:6.3f} s")
    admin.clean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args()
    env = redmine_env()
    admin = RedmineAdmin(env)
    bench_creates(env, admin, args.count, args.concurrency)
    bench_reads(env, admin, args.count)
    admin.clean()


if __name__ == "__main__":
    main()
