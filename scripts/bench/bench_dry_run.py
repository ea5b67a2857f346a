"""`psa-sync run` as the CLI runs it (stages.run_once on the config), but against a DRY PSA: the
tests' in-memory FakePsa (tests/fixtures/fake_psa.py) instead of Redmine, so a first run over
10,000+ won deals measures psa-sync and Salesforce, not how fast a test Redmine creates projects.

Run by scripts/bench/bench.py in a subprocess; prints one JSON line: the run's result and the PSA
calls the fake was asked for (each PsaConnector or StructureConnector method call counts one, as a
batch call would on the wire), and the children (phases and tasks) the dry PSA holds after the run.

``--psa-state FILE`` keeps the dry PSA's projects from one run to the next (a pickle of the fake's
projects and values, loaded before the run and saved after it), so a later run finds the projects an
earlier one made: the incremental run updates them, the back-sync reads them.
The line also gives ``rss_before_run_mb``: the peak RSS before the run began (the interpreter, the
imports and the dry PSA's projects loaded from ``--psa-state``), so the dry PSA's share of the peak
can be told apart from the run's.
The line also gives ``sql``: the SQL statements the run sent to the state file and its write
transactions (COMMITs), counted with sqlite3's ``set_trace_callback`` on the state file's
connection. ``--profile FILE`` writes a cProfile of the run (``run_once``) to FILE.
``--progress K`` first moves the percent complete of K linked projects, as project managers would in
the PSA between two runs (what the back-sync then carries to Salesforce).

    python scripts/bench/bench_dry_run.py --config psa-sync.yaml [--psa-state psa.pickle]
        [--progress 1000]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pickle
import resource
import sys
from collections import Counter
from itertools import count
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import sync.state.store as state_store  # noqa: E402
from sync.config import load_settings  # noqa: E402
from sync.orchestrator.connections import Connections  # noqa: E402
from sync.orchestrator.stages import run_once  # noqa: E402
from tests.fixtures.fake_psa import FakePsa  # noqa: E402

PSA_METHODS = (
    "describe",
    "find",
    "list_linked",
    "list_unlinked",
    "project",
    "set_keys",
    "read",
    "delivery",
    "create",
    "update",
    "set_lifecycle",
    "ensure_parent",
    # the children protocol (a mapping with `structure:`): one call per project and kind
    "find_children",
    "create_children",
    "children",
    "flag_children",
    "set_estimates",
)


class CountingPsa(FakePsa):
    """The fake, counting each connector call by method."""

    def __init__(self, url: str):
        super().__init__(url)
        self.calls: Counter[str] = Counter()
        for name in PSA_METHODS:
            method = getattr(self, name)

            def counted(*args, _name=name, _method=method, **kwargs):
                self.calls[_name] += 1
                return _method(*args, **kwargs)

            setattr(self, name, counted)


HELD = ("projects", "values", "hours", "parents", "plans", "last_child_id")


def load(psa: FakePsa, path: Path) -> None:
    if not path.exists():
        return
    held = pickle.loads(path.read_bytes())
    for name in HELD:
        if name in held:
            setattr(psa, name, held[name])
    ids = count(held["next_id"])
    psa._id_of = lambda key: next(ids)


def save(psa: FakePsa, path: Path) -> None:
    refs = [*psa.projects.values(), *psa.parents.values()]
    held = {name: getattr(psa, name) for name in HELD}
    held["next_id"] = max((ref.id for ref in refs), default=0) + 1
    path.write_bytes(pickle.dumps(held, protocol=pickle.HIGHEST_PROTOCOL))


class StatementCount:
    """Every statement the state file's connection runs (``set_trace_callback``) and its COMMITs."""

    def __init__(self):
        self.statements = 0
        self.commits = 0

    def __call__(self, sql: str) -> None:
        self.statements += 1
        if sql.lstrip()[:6].upper() == "COMMIT":
            self.commits += 1

    def install(self) -> None:
        """Count on every state file the run opens (``State.open`` → ``open_database``)."""
        opened = state_store.open_database

        def counted(path):
            db = opened(path)
            db.conn.set_trace_callback(self)
            return db

        state_store.open_database = counted


def progress(psa: FakePsa, k: int) -> None:
    for key in list(psa.projects)[:k]:
        values = psa.values[key]
        values["percent_complete"] = ((values.get("percent_complete") or 0) + 10) % 100 or 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--psa-state", type=Path, help="keep the dry PSA's projects in this file")
    parser.add_argument(
        "--progress", type=int, default=0, help="move the percent complete of K projects first"
    )
    parser.add_argument("--profile", type=Path, help="write a cProfile of the run to this file")
    args = parser.parse_args()
    settings = load_settings(args.config)
    connections = Connections(settings)
    psa = CountingPsa(settings.psa.url)
    if args.psa_state:
        load(psa, args.psa_state)
    progress(psa, args.progress)
    held_mb = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )  # interpreter + the dry PSA's projects
    connections.psa = psa
    sql = StatementCount()
    sql.install()
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    result = run_once(settings, connected=connections)
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    if args.psa_state:
        save(psa, args.psa_state)
    print(
        json.dumps(
            {
                "exit": result.exit_code,
                "counts": result.counts,
                "api_calls": result.api_calls,
                "psa_calls": dict(psa.calls),
                "error": result.error,
                "children": sum(len(plan) for plan in psa.plans.values()),
                "rss_before_run_mb": round(held_mb),
                "sql": {"statements": sql.statements, "transactions": sql.commits},
            }
        )
    )


if __name__ == "__main__":
    main()
