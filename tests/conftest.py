"""Shared pytest wiring: each fixture family lives in its own plugin module under tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.emulator",
    "tests.fixtures.redmine",
    "tests.fixtures.sync",
    "tests.fixtures.tryton",
    "tests.fixtures.faultproxy",
]
