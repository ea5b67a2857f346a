"""``scripts/redmine.sh restore``: what the fixtures clean with between tests. The pristine database
is copied into the running server's own (SQLite's backup API), so the server is not restarted and
goes on serving from the restored file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixtures.redmine import missing_redmine, redmine_script

pytestmark = pytest.mark.integration


def server_pid() -> str:
    state = Path(os.environ.get("REDMINE_STATE_DIR", "/tmp/redmine-psa"))
    return (state / "redmine.pid").read_text().strip()


def test_restore_empties_the_running_redmine_without_restarting_it_and_it_goes_on_writing(
    redmine,
):
    if os.geteuid() != 0:
        missing_redmine("redmine.sh restore needs root (make test and CI run as root)")
    first = [redmine.create_project(f"restore-{n}", f"Restore {n}") for n in range(3)]
    pid = server_pid()

    done = redmine_script("restore")

    assert done.returncode == 0, done.stderr[-2000:]
    assert "restore took" in done.stderr  # the in-place copy, not the reset's stop and start
    assert redmine.count() == 0 and server_pid() == pid
    again = redmine.create_project("restore-again", "Restore again")
    assert redmine.project("restore-again")["name"] == "Restore again"
    # the restored file holds no project: Redmine (no AUTOINCREMENT on SQLite) reuses the first id
    assert again["id"] == min(p["id"] for p in first)
