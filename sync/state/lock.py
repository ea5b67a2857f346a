"""The run lock: one psa-sync run at a time, and a backfill that lets scheduled runs take turns.

A second run that finds the lock held exits 75 at once: cron and systemd must never stack runs. A
backfill holds it one window at a time, and holds a lock of its own (``<lock>.backfill``) from its
start to its end, so a run that finds the run lock taken while that one is held waits for the window
to end instead (docs/architecture.md §4).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from sync.common.errors import LockHeldError
from sync.config import Settings
from sync.state.files import refuse_special, translate

logger = logging.getLogger(__name__)


@contextmanager
def run_lock(settings: Settings, wait: float = 0) -> Iterator[None]:
    """A second run finding the lock held exits 75 at once: cron and systemd must never stack runs.

    A backfill holds the lock one window at a time and ``wait``s for it between windows; a run that
    finds the lock held *while a backfill runs* (:func:`backfill_lock` is held) waits up to
    ``BACKFILL_TURN_SECONDS`` for the window to end (the backfill pauses between windows to let it
    in), so the scheduled runs go on during a backfill of hours instead of exiting 75 at every tick.
    Whether a backfill runs is itself a lock, held from the backfill's start to its end: nothing is
    read from a file written after the lock is taken, so no run can look in between (no timing).
    """
    lock = FileLock(str(settings.lock_path), timeout=wait)
    refuse_special(
        settings.lock_path, backfill_path(settings)
    )  # exit 2 before a device or FIFO is opened
    try:
        settings.state.parent.mkdir(parents=True, exist_ok=True)
        _acquire(lock, settings, wait)
    except Timeout:
        raise LockHeldError(
            f"another psa-sync run holds {settings.lock_path}; this run did nothing"
        ) from None
    except OSError as exc:
        raise translate(settings.lock_path, exc) from exc
    try:
        yield
    finally:
        lock.release()


def backfill_path(settings: Settings) -> Path:
    return settings.lock_path.with_name(settings.lock_path.name + ".backfill")


@contextmanager
def backfill_lock(settings: Settings) -> Iterator[None]:
    """Held for a whole backfill, its windows and the pauses between (a second backfill: exit 75).
    It waits ``BACKFILL_START_SECONDS`` at most: a run's look at it holds it for an instant."""
    lock = FileLock(str(backfill_path(settings)), timeout=BACKFILL_START_SECONDS)
    refuse_special(backfill_path(settings))
    try:
        settings.state.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        raise LockHeldError(
            f"another backfill runs on {settings.state} ({backfill_path(settings)} is held); "
            "this one did nothing"
        ) from None
    except OSError as exc:
        raise translate(backfill_path(settings), exc) from exc
    try:
        yield
    finally:
        lock.release()


#: How long a run waits for a backfill's window to end (a window of 200 deals takes ~10-20 s).
BACKFILL_TURN_SECONDS = 120.0
#: How long a backfill waits for its own lock: another backfill holds it for hours,
#: a run's look at it for an instant.
BACKFILL_START_SECONDS = 10.0


def _acquire(lock: FileLock, settings: Settings, wait: float) -> None:
    """Take the lock (waiting ``wait``); a run finding a backfill running waits for its window."""
    if wait:
        lock.acquire()
        return
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not _backfill_running(settings):
            raise
        logger.info("a backfill runs on %s; waiting for its window to end", settings.state)
        lock.acquire(timeout=BACKFILL_TURN_SECONDS)


def _backfill_running(settings: Settings) -> bool:
    """Whether a backfill holds its lock now (taken and given back at once when none does)."""
    probe = FileLock(str(backfill_path(settings)), timeout=0)
    try:
        probe.acquire()
    except Timeout:
        return True
    probe.release()
    return False
