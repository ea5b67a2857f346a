"""What the daemon does after a cycle, by its exit code: go on, wait longer, or stop.

A cycle is a run, and its exit code means what a run's means (README "Running it"). The daemon reads
it the way a person would: 0 and 1 did their work (1's deals are quarantined, a later retry fixes
them); 75 met a run or backfill started by hand and simply tries at the next tick; 2 (config,
mapping, a state file of another org) and 5 (credentials) cannot be fixed by trying again, so the
daemon stops with that code for systemd and a person to see; everything else (3 unreachable, 4
budget, 74 disk, 76 protocol, 70 a bug) may pass with time, so the cycles space out — doubling
from the interval up to ``schedule.backoff_max`` — and return to the interval after the first
cycle that works. Pure, so the rule is tested without a clock or a scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sync.common.errors import ExitCode


class Verdict(Enum):
    DONE = "done"  # the cycle did its work: back to the interval
    QUIET = "quiet"  # another run held the lock: next tick, as if nothing happened
    BACKOFF = "backoff"  # time may fix it: wait longer before the next cycle
    STOP = "stop"  # no retry can fix it: the daemon exits with this code


DONE_CODES = frozenset({ExitCode.DONE, ExitCode.FAILURES})
QUIET_CODES = frozenset({ExitCode.LOCK_HELD})
STOP_CODES = frozenset({ExitCode.CONFIG, ExitCode.AUTH})


def verdict(exit_code: int) -> Verdict:
    if exit_code in DONE_CODES:
        return Verdict.DONE
    if exit_code in QUIET_CODES:
        return Verdict.QUIET
    if exit_code in STOP_CODES:
        return Verdict.STOP
    return Verdict.BACKOFF


@dataclass
class Backoff:
    """Exponential back-off on a monotonic clock: ``interval`` × 2^failures, at most ``cap``
    seconds.

    The scheduler keeps ticking at the interval; a tick that comes while ``waiting`` does nothing
    (no call, no run row), so the run rows themselves show the cycles spacing out.
    """

    interval: float
    cap: float
    failures: int = 0
    until: float = 0.0

    def failed(self, now: float) -> float:
        """One more failing cycle, started at ``now``: seconds until the next one starts."""
        self.failures += 1
        delay = min(self.cap, self.interval * 2**self.failures)
        self.until = now + delay
        return delay

    def succeeded(self) -> bool:
        """A cycle worked: back to the interval. True if it had been backing off."""
        was = self.failures > 0
        self.failures, self.until = 0, 0.0
        return was

    def waiting(self, now: float) -> bool:
        """True while a tick should pass; one a little early (the trigger's jitter) still runs."""
        return now < self.until - min(self.interval * 0.25, 5.0)
