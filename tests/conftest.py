"""Shared pytest wiring: each fixture family lives in its own plugin module under tests/fixtures/.

Tiers (README "Tests"): every test is marked by its folder (``unit``, ``emulator``, ``integration``,
``e2e``), ``realpsa`` when it needs the real Redmine or Tryton (a fixture of theirs) and
``subprocess`` when it starts ``psa-sync`` processes (crashes, signals, two runs at once). The fast
tier, ``make test-fast``, is ``-m "not realpsa and not subprocess and not slow"``. Hypothesis
profiles: tests/fixtures/profiles.py.
"""

from pathlib import Path

import pytest

import tests.fixtures.profiles  # noqa: F401 - registers and loads the Hypothesis profile

pytest_plugins = [
    "tests.fixtures.emulator",
    "tests.fixtures.redmine",
    "tests.fixtures.sync",
    "tests.fixtures.tryton",
    "tests.fixtures.faultproxy",
    "tests.fixtures.workers",
]

TESTS = Path(__file__).resolve().parent
FOLDER_MARKS = ("unit", "emulator", "integration", "e2e")
REAL_PSA_FIXTURES = {"redmine_env", "tryton_env"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test by its folder, and ``realpsa`` when it asks for a real Redmine or Tryton."""
    for item in items:
        parts = Path(str(item.path)).resolve().relative_to(TESTS).parts
        if parts and parts[0] in FOLDER_MARKS:
            item.add_marker(parts[0])
        if REAL_PSA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker("realpsa")
