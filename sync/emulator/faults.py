"""Injected faults. Every one is off by default, so call counts stay exact unless a test asks.

Request-level faults (5xx, connection reset, delay, random failures) are matched by endpoint
name (``query``, ``composite``, …; None matches every data and token call). Record-level faults
(validation rule, row lock) apply to writes of the given Ids. Short pages cap the rows a query
page returns. A Bulk failure ends the next query job(s) in ``Failed`` instead of ``JobComplete``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from sync.emulator import ids
from sync.emulator.apierror import RecordFailure

DEFAULT_VALIDATION_MESSAGE = "PSA fields cannot be changed while the deal is under review"
# unverified: the wording of a real failed query job's errorMessage
# (orgs retry a job up to 15 times)
DEFAULT_BULK_FAILURE = "InternalServerError : Retried more than 15 times"


@dataclass
class _Rule:
    action: str  # "status" | "reset"
    status: int
    endpoint: str | None
    remaining: int | None  # None: until cleared


@dataclass
class Decision:
    action: str | None = None  # None | "status" | "reset"
    status: int = 0
    delay: float = 0.0


class FaultPlan:
    def __init__(self):
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._rules: list[_Rule] = []
            self._delays: list[_Rule] = []
            self._delay_seconds: dict[int, float] = {}
            self._rate: tuple[float, random.Random, int, str | None] | None = None
            self._validation: dict[str, str] = {}
            self._locks: dict[str, int | None] = {}
            self.short_page_size: int | None = None
            self._bulk_failures: list[str] = []

    # -------------------------------------------------------------------- request level

    def fail_next(self, n: int = 1, status: int = 503, endpoint: str | None = None) -> None:
        """The next ``n`` calls (to ``endpoint``, or any) answer ``status`` (500 or 503 bodies)."""
        with self._lock:
            self._rules.append(_Rule("status", status, endpoint, n))

    def reset_next(self, n: int = 1, endpoint: str | None = None) -> None:
        """The next ``n`` calls have their connection closed with no response at all."""
        with self._lock:
            self._rules.append(_Rule("reset", 0, endpoint, n))

    def slow(self, seconds: float, endpoint: str | None = None, n: int | None = None) -> None:
        """Delay responses by ``seconds`` (the next ``n`` calls, or until cleared)."""
        with self._lock:
            rule = _Rule("delay", 0, endpoint, n)
            self._delays.append(rule)
            self._delay_seconds[id(rule)] = float(seconds)

    def fail_rate(
        self, rate: float, seed: int | None = None, status: int = 503, endpoint: str | None = None
    ) -> None:
        """Fail a random share of calls, reproducibly for a given seed."""
        with self._lock:
            self._rate = (float(rate), random.Random(seed), status, endpoint)

    def decide(self, endpoint: str) -> Decision:
        """What to do with one incoming call (consumes counted rules)."""
        decision = Decision()
        with self._lock:
            for rule in self._delays:
                if self._take(rule, endpoint):
                    decision.delay += self._delay_seconds[id(rule)]
            for rule in self._rules:
                if self._take(rule, endpoint):
                    decision.action, decision.status = rule.action, rule.status
                    break
            if decision.action is None and self._rate is not None:
                rate, rng, status, only = self._rate
                if (only is None or only == endpoint) and rng.random() < rate:
                    decision.action, decision.status = "status", status
            self._rules = [r for r in self._rules if r.remaining != 0]
            self._delays = [r for r in self._delays if r.remaining != 0]
        return decision

    @staticmethod
    def _take(rule: _Rule, endpoint: str) -> bool:
        if rule.remaining == 0 or (rule.endpoint is not None and rule.endpoint != endpoint):
            return False
        if rule.remaining is not None:
            rule.remaining -= 1
        return True

    # --------------------------------------------------------------------- record level

    def validation_failure(
        self, record_ids: list[str], message: str = DEFAULT_VALIDATION_MESSAGE
    ) -> None:
        """Writes to these records fail with FIELD_CUSTOM_VALIDATION_EXCEPTION.

        As a validation rule of the org would make them fail.
        """
        with self._lock:
            for record_id in record_ids:
                self._validation[ids.normalize(record_id) or record_id] = message

    def lock_rows(self, record_ids: list[str], times: int | None = None) -> None:
        """Writes to these records fail with UNABLE_TO_LOCK_ROW.

        For ``times`` attempts, or until cleared.
        """
        with self._lock:
            for record_id in record_ids:
                self._locks[ids.normalize(record_id) or record_id] = times

    def short_pages(self, size: int | None) -> None:
        """Cap every query page at ``size`` rows (None: back to the batch size)."""
        self.short_page_size = size

    def bulk_failure(self, message: str = DEFAULT_BULK_FAILURE, n: int = 1) -> None:
        """The next ``n`` Bulk query jobs end ``Failed`` with this ``errorMessage``."""
        with self._lock:
            self._bulk_failures.extend([message] * n)

    def take_bulk_failure(self) -> str | None:
        """The failure a new Bulk query job is to end with, if any (consumes it)."""
        with self._lock:
            return self._bulk_failures.pop(0) if self._bulk_failures else None

    def check_write(self, record_id: str) -> None:
        """Raise the injected per-record failure for a write to ``record_id``, if any."""
        with self._lock:
            if record_id in self._locks:
                remaining = self._locks[record_id]
                if remaining is None or remaining > 0:
                    if remaining is not None:
                        self._locks[record_id] = remaining - 1
                    raise RecordFailure(
                        "UNABLE_TO_LOCK_ROW",
                        "unable to obtain exclusive access to this record or 1 records: "
                        f"{record_id}",
                    )
                del self._locks[record_id]
            if record_id in self._validation:
                raise RecordFailure(
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION", self._validation[record_id]
                )
