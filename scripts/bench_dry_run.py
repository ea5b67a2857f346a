"""`psa-sync run` as the CLI runs it (pipeline.run_once on the config), but against a DRY PSA: the tests'
in-memory FakePsa (tests/fixtures/fake_psa.py) instead of Redmine, so a first run over 10,000+ won deals
measures psa-sync and Salesforce, not how fast a test Redmine creates projects.

Run by scripts/bench.py in a subprocess; prints one JSON line: the run's result and the PSA calls the
fake was asked for (each PsaConnector method call counts one, as a batch call would on the wire).

    python scripts/bench_dry_run.py --config psa-sync.yaml
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync.config import load_settings  # noqa: E402
from sync.connections import Connections  # noqa: E402
from sync.pipeline import run_once  # noqa: E402
from tests.fixtures.fake_psa import FakePsa  # noqa: E402

PSA_METHODS = ("describe", "find", "list_linked", "list_unlinked", "project", "set_keys", "read", "delivery",
               "create", "update", "set_lifecycle", "ensure_parent")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args()
    settings = load_settings(args.config)
    connections = Connections(settings)
    psa = CountingPsa(settings.psa.url)
    connections.psa = psa
    result = run_once(settings, connected=connections)
    print(json.dumps({"exit": result.exit_code, "counts": result.counts, "api_calls": result.api_calls,
                      "psa_calls": dict(psa.calls), "error": result.error}))


if __name__ == "__main__":
    main()
