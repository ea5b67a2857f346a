"""Shared pytest wiring: each fixture family lives in its own plugin module under tests/fixtures/.

Tiers (README "Tests"): every test is marked by its folder (``unit``, ``emulator``, ``integration``,
``e2e``), ``realpsa`` when it needs the real Redmine or Tryton (a fixture of theirs) and
``subprocess`` when it starts ``psa-sync`` processes (crashes, signals, two runs at once). The fast
tier, ``make test-fast``, is ``-m "not realpsa and not subprocess and not slow"``.
"""

import os
from pathlib import Path

import pytest
from hypothesis import settings

pytest_plugins = [
    "tests.fixtures.emulator",
    "tests.fixtures.redmine",
    "tests.fixtures.sync",
    "tests.fixtures.tryton",
    "tests.fixtures.faultproxy",
]

TESTS = Path(__file__).resolve().parent
FOLDER_MARKS = ("unit", "emulator", "integration", "e2e")
REAL_PSA_FIXTURES = {"redmine_env", "tryton_env"}

# `dev` (plain pytest, `make test-fast`) searches less for a developer's loop; `ci` (CI=true, and
# `make test`) searches as much as Hypothesis does by default. A test that sets its own max_examples
# keeps it under both.
settings.register_profile("dev", max_examples=25, deadline=None)
settings.register_profile("ci", max_examples=100, deadline=None)


def _profile(environ: os._Environ) -> str:
    if environ.get("HYPOTHESIS_PROFILE"):
        return environ["HYPOTHESIS_PROFILE"]
    return "ci" if environ.get("CI", "").strip().lower() not in ("", "0", "false") else "dev"


settings.load_profile(_profile(os.environ))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test by its folder, and ``realpsa`` when it asks for a real Redmine or Tryton."""
    for item in items:
        parts = Path(str(item.path)).resolve().relative_to(TESTS).parts
        if parts and parts[0] in FOLDER_MARKS:
            item.add_marker(parts[0])
        if REAL_PSA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker("realpsa")
