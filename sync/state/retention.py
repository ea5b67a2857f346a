"""Retention: the state file does not grow forever (a daemon at 30 s makes 2,880 runs a day).

Old runs and events go in batches of ``BATCH`` rows, each batch one transaction under the run lock,
taken and released per batch: a cycle or a run started by hand waits a fraction of a second, never
the whole clean-up. Then, only if a quarter of the file is free pages and the lock is free right
now, a VACUUM gives the space back. The daemon applies it nightly (``retention.at``);
``psa-sync prune`` does it by hand or from cron. What is kept is said in :mod:`sync.state.prune`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sync.common.clock import iso, utcnow
from sync.common.errors import LockHeldError
from sync.config import Settings
from sync.state import State
from sync.state import prune as queries
from sync.state.lock import run_lock

logger = logging.getLogger(__name__)

BATCH = 500
LOCK_WAIT_SECONDS = 60.0


@dataclass
class Pruned:
    runs: int = 0
    events: int = 0
    batches: int = 0
    vacuumed: bool = False
    longest_hold_s: float = 0.0

    def text(self) -> str:
        return (
            f"retention: {self.runs} runs and {self.events} events removed "
            f"in {self.batches} batches (longest hold of the run lock {self.longest_hold_s:.2f}s)"
            + ("; the file was vacuumed" if self.vacuumed else "")
        )


def apply(
    settings: Settings,
    *,
    now: datetime | None = None,
    batch: int = BATCH,
    stop: Callable[[], bool] = lambda: False,
) -> Pruned:
    """Delete what the policy no longer keeps, batch by batch; ``stop()`` is asked between them."""
    now = now or utcnow()
    runs_before, events_before = (
        iso(now - settings.retention.runs),
        iso(now - settings.retention.events),
    )
    done = Pruned()
    with run_lock(
        settings, LOCK_WAIT_SECONDS
    ):  # opening may migrate the state file: under the lock
        state = State.open(settings.state)
    try:
        while not stop():
            with run_lock(settings, LOCK_WAIT_SECONDS):
                held = time.monotonic()
                with state.transaction():
                    runs = queries.old_runs(state, runs_before, batch)
                    events = (
                        queries.old_events(state, events_before, batch - runs)
                        if runs < batch
                        else 0
                    )
                done.longest_hold_s = max(done.longest_hold_s, time.monotonic() - held)
            done.runs, done.events, done.batches = (
                done.runs + runs,
                done.events + events,
                done.batches + 1,
            )
            if runs + events == 0:
                break
        if not stop() and queries.vacuum_due(state):
            done.vacuumed = _vacuum(settings, state)
    finally:
        state.close()
    logger.info("%s", done.text())
    return done


def _vacuum(settings: Settings, state: State) -> bool:
    try:
        with run_lock(settings, 0):
            queries.vacuum(state)
            return True
    except LockHeldError:
        logger.info("retention: a run holds the lock; the VACUUM waits for another time")
        return False
