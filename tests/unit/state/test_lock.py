"""The run lock and the backfill's own lock: who waits and who exits 75 is decided by locks alone,
never by a file written after a lock was taken (a run that looked in between used to exit 75)."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from sync.common.errors import LockHeldError
from sync.state import lock as locks


@pytest.fixture
def settings(tmp_path: Path):
    return SimpleNamespace(
        state=tmp_path / "psa-sync.sqlite", lock_path=tmp_path / "psa-sync.sqlite.lock"
    )


def held_in_a_thread(settings, *, backfill: bool):
    """A window of a backfill (or a plain run) holding the run lock until ``release`` is set."""
    taken, release, done = threading.Event(), threading.Event(), threading.Event()

    def hold():
        if backfill:
            with locks.backfill_lock(settings), locks.run_lock(settings, wait=5):
                taken.set()
                release.wait(30)
        else:
            with locks.run_lock(settings):
                taken.set()
                release.wait(30)
        done.set()

    threading.Thread(target=hold, daemon=True).start()
    assert taken.wait(30)
    return release, done


def test_a_run_that_finds_another_run_holding_the_lock_exits_75_at_once(settings):
    release, done = held_in_a_thread(settings, backfill=False)
    with pytest.raises(LockHeldError), locks.run_lock(settings):
        pass
    release.set()
    assert done.wait(30)


def test_a_run_that_finds_a_backfill_window_waits_for_it_however_early_it_looks(
    settings, monkeypatch
):
    """The window took the run lock a moment ago: there is nothing more to write before a run may
    look, so the run waits for the window instead of exiting 75."""
    release, done = held_in_a_thread(settings, backfill=True)
    waited = []
    monkeypatch.setattr(locks.logger, "info", lambda *args: (waited.append(args), release.set()))
    with locks.run_lock(settings):
        assert done.wait(30)  # the window ended first: the run had the lock only after it
    assert waited and "a backfill runs" in waited[0][0]


def test_a_second_backfill_is_refused_and_a_runs_look_never_stops_a_backfill_starting(
    settings, monkeypatch
):
    release, done = held_in_a_thread(settings, backfill=True)
    monkeypatch.setattr(locks, "BACKFILL_START_SECONDS", 0.1)
    with pytest.raises(LockHeldError, match="another backfill"), locks.backfill_lock(settings):
        pass
    release.set()
    assert done.wait(30)
    assert not locks._backfill_running(settings)  # the look takes it and gives it back
    with locks.backfill_lock(settings):
        assert locks._backfill_running(settings)
