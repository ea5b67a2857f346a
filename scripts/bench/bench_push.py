"""The Redmine push: project creates/s at several ``write_concurrency``, 500s and duplicates.

Against a Redmine started by scripts/redmine.sh (SQLite behind WEBrick, or REDMINE_DB=pgsql:
PostgreSQL behind Puma), named by the same variables (REDMINE_DB, REDMINE_INSTANCE, REDMINE_PORT,
REDMINE_STATE_DIR). Each round starts from an empty Redmine (it DELETES EVERY PROJECT: never point
it at a real one), creates ``--count`` projects through the connector (RedmineConnector.create, what
a run calls), then counts:

- creates/s: projects made (outcome created, or exists: committed but answered 5xx, then found and
  adopted) ÷ the create call's wall time;
- 500s: the server's own count ("Completed 500" in the instance's production.log, whatever the
  client retried or looked up), and the 5xx the client saw;
- outcomes: what the connector reported per deal (a 500 the user would see is an outcome other than
  "created");
- duplicates: projects in Redmine carrying the same deal key, minus one (must be 0); missing: deals
  with no project.

Prints one JSON line per round (scripts/bench/bench.py reads them) and nothing else on stdout.

    REDMINE_INSTANCE=bench REDMINE_PORT=3024 REDMINE_STATE_DIR=/tmp/redmine-bench \
        .venv/bin/python scripts/bench/bench_push.py --count 200 --concurrency 1 2 4 8
"""

from __future__ import annotations

import argparse
import json
import os
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


def redmine_env() -> tuple[object, dict[str, str]]:
    done = subprocess.run(
        ["bash", str(ROOT / "scripts/redmine.sh"), "env"], capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(
            f"Redmine is not running ({done.stderr.strip()}): "
            "start it with scripts/redmine.sh start"
        )
    values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return parse_env(done.stdout), values


def server_log(instance: str) -> Path:
    if instance == "default":
        return Path("/var/log/redmine/default/production.log")
    return Path(f"/var/lib/redmine/{instance}/log/production.log")


def server_500s(log: Path) -> int | None:
    try:
        with log.open(errors="replace") as f:
            return sum(1 for line in f if "Completed 500" in line)
    except OSError:
        return None


def rows(count: int, round_no: int) -> list[NewProject]:
    return [
        NewProject(
            f"006PUSH{round_no:02d}{n:06d}QAA",
            {
                "name": f"Push deal {n}",
                "customer": "Bench Corp",
                "budget": Decimal("1000.50"),
                "billing_type": "Fixed Fee",
            },
        )
        for n in range(count)
    ]


def duplicates(admin: RedmineAdmin, keys: set[str]) -> tuple[int, int]:
    """(projects beyond one per key, keys without a project), read from Redmine itself."""
    cf = admin.cf_id("salesforce_opportunity_id")
    seen: Counter[str] = Counter()
    for project in admin.projects():
        value = next(
            (c.get("value") for c in project.get("custom_fields", []) if c["id"] == cf), None
        )
        if value:
            seen[value] += 1
    return sum(n - 1 for n in seen.values() if n > 1), len(keys - set(seen))


def push(env, admin: RedmineAdmin, log: Path, count: int, concurrency: int, round_no: int) -> dict:
    admin.clean()
    session = build_session(ca_bundle=None, timeout=60, retries=3)
    client_5xx = Counter()
    session.hooks["response"].append(
        lambda r, *a, **k: client_5xx.update([r.status_code]) if r.status_code >= 500 else None
    )
    psa = RedmineConnector(env.url, env.api_key, session=session, write_concurrency=concurrency)
    psa.describe()  # custom fields resolved outside the timing
    batch = rows(count, round_no)
    before = server_500s(log)
    started = time.perf_counter()
    results = psa.create(batch)
    elapsed = time.perf_counter() - started
    after = server_500s(log)
    outcomes = Counter(str(r.outcome) for r in results)
    made = outcomes.get("created", 0) + outcomes.get(
        "exists", 0
    )  # "exists": committed, answered 5xx, adopted
    dups, missing = duplicates(admin, {r.key for r in batch})
    return {
        "concurrency": concurrency,
        "count": count,
        "wall": round(elapsed, 3),
        "creates_per_s": round(made / elapsed, 2),
        "outcomes": dict(outcomes),
        "server_500s": None if before is None or after is None else after - before,
        "client_5xx": sum(client_5xx.values()),
        "duplicates": dups,
        "missing": missing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="projects created per round")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args()
    env, values = redmine_env()
    admin = RedmineAdmin(env)
    log = server_log(values.get("REDMINE_INSTANCE", "default"))
    for round_no, concurrency in enumerate(args.concurrency):
        result = push(env, admin, log, args.count, concurrency, round_no)
        result["db"] = values.get("REDMINE_DB", "sqlite")
        print(json.dumps(result), flush=True)
        print(
            f"  {result['db']} write_concurrency={concurrency}: "
            f"{result['creates_per_s']:6.1f} creates/s, "
            f"500s {result['server_500s']}, duplicates {result['duplicates']}, "
            f"outcomes {result['outcomes']}",
            file=sys.stderr,
        )
    admin.clean()


if __name__ == "__main__":
    os.environ.setdefault("REDMINE_STATE_DIR", "/tmp/redmine-psa")
    main()
