"""Retries of the one session factory (:mod:`sync.connectors.http`): which, how often, how long.

urllib3's ``Retry`` retries connection and read errors and 500/502/503/504, with exponential backoff
and jitter and ``Retry-After`` honoured (capped), for idempotent methods only: a POST (a create, a
token request) is never sent again, because a lost answer could mean it was applied. Statuses are
returned, never raised, so each connector reads the body itself. ``BoundedRetry`` adds the per-run
bound: once the run's ``RetryWindow`` is over a failed call fails at once, and no backoff sleeps
past the window's end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Self

from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})
BACKOFF_MAX_SECONDS = 30.0
RETRY_AFTER_MAX_SECONDS = 60
DEFAULT_RETRY_WINDOW_SECONDS = (
    600.0  # a run may spend its first 10 minutes riding out blips, no more
)


class RetryWindow:
    """The time, from its creation, during which a session may still retry (one window per run)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.seconds = seconds
        self.deadline = clock() + seconds

    def restart(self) -> None:
        """A new run on a kept session (the daemon's next cycle) gets a whole window again."""
        self.deadline = self.clock() + self.seconds

    def remaining(self) -> float:
        return max(0.0, self.deadline - self.clock())


class BoundedRetry(Retry):
    """urllib3's Retry, but no retry once the run's ``RetryWindow`` is over, no sleep beyond it."""

    def __init__(self, *args: Any, window: RetryWindow | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.window = window

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.window = self.window
        return retry

    def increment(self, *args: Any, **kwargs: Any) -> Self:
        if self.window is not None and self.window.remaining() <= 0 and self.total != 0:
            # Out of time: fail this call as an exhausted Retry does (status returned, error raised)
            log.warning("http: the run's retry window is over; not retrying")
            return self.new(total=0, connect=0, read=0, status=0, other=0).increment(
                *args, **kwargs
            )
        return super().increment(*args, **kwargs)

    def _capped(self, seconds: float) -> float:
        return seconds if self.window is None else min(seconds, self.window.remaining())

    def get_backoff_time(self) -> float:
        return self._capped(super().get_backoff_time())

    def get_retry_after(self, response: Any) -> float | None:
        after = super().get_retry_after(response)
        return None if after is None else self._capped(after)


def retry_policy(
    retries: int, *, backoff_factor: float = 0.5, window: RetryWindow | None = None
) -> Retry:
    """Exponential backoff with jitter for idempotent methods; statuses returned, never raised."""
    return BoundedRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=5,
        allowed_methods=IDEMPOTENT_METHODS,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        backoff_jitter=backoff_factor,
        backoff_max=BACKOFF_MAX_SECONDS,
        respect_retry_after_header=True,
        retry_after_max=RETRY_AFTER_MAX_SECONDS,
        raise_on_status=False,
        window=window,
    )
