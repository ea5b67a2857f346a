"""The run lock: one psa-sync run at a time, and a backfill that lets the scheduled runs take their turn.

A second run that finds the lock held exits 75 at once: cron and systemd must never stack runs. A
backfill holds it one window at a time; the holder's mode is written beside the lock, so a run that
finds a *backfill* there waits for the window to end instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from sync.config import Settings
from sync.errors import LockHeldError
from sync.state.files import refuse_special, translate

logger = logging.getLogger(__name__)


@contextmanager
def run_lock(settings: Settings, wait: float = 0, holder: str = "") -> Iterator[None]:
    """A second run that finds the lock held exits 75 at once: cron and systemd must never stack runs.

    A backfill holds the lock one window at a time and ``wait``s for it between windows; a run that
    finds a *backfill* holding it waits up to ``BACKFILL_TURN_SECONDS`` for the window to end (the
    backfill pauses between windows to let it in), so the scheduled runs go on during a backfill of
    hours instead of exiting 75 at every tick. ``holder`` (the mode) is written beside the lock for that.
    """
    lock = FileLock(str(settings.lock_path), timeout=wait)
    marker = settings.lock_path.with_name(settings.lock_path.name + ".holder")
    refuse_special(settings.lock_path, marker)  # exit 2 before a device or FIFO is opened, written or blocked on
    try:
        settings.state.parent.mkdir(parents=True, exist_ok=True)
        _acquire(lock, marker, wait, settings.lock_path)
        marker.write_text(holder)
    except Timeout:
        raise LockHeldError(f"another psa-sync run holds {settings.lock_path}; this run did nothing") from None
    except OSError as exc:
        raise translate(settings.lock_path, exc) from exc
    try:
        yield
    finally:
        marker.unlink(missing_ok=True)
        lock.release()


#: How long a run waits for a backfill's window to end (a window of 200 deals takes ~10-20 s).
BACKFILL_TURN_SECONDS = 120.0
#: How long a run looks for the holder's mark: it is written just after the lock is taken and removed
#: just before it is released, so a run that came in between must look again, not exit 75 at once.
HOLDER_LOOK_SECONDS = 1.0


def _acquire(lock: FileLock, marker: Path, wait: float, where: Path) -> None:
    """Take the lock (waiting ``wait``); a run that finds a backfill holding it waits for its window."""
    if wait:
        lock.acquire()
        return
    deadline = time.monotonic() + HOLDER_LOOK_SECONDS
    while True:
        try:
            lock.acquire(timeout=0.05)
            return
        except Timeout:
            if _holder(marker) == "backfill":
                logger.info("a backfill holds %s; waiting for its window to end", where)
                lock.acquire(timeout=BACKFILL_TURN_SECONDS)
                return
            if time.monotonic() >= deadline:
                raise


def _holder(marker: Path) -> str:
    try:
        return marker.read_text().strip()
    except OSError:
        return ""


