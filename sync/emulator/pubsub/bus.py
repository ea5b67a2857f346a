"""The event bus: the published change events, their replay ids, retention and delivery counters.

Replay ids are 8 opaque bytes, monotonic, never contiguous: ``(bus ms << 16) + n`` with a random
step between neighbours, so a subscriber cannot compute one and the time in it decides retention
(an id older than ``retention_s`` of the bus clock is stale). The bus clock is the org's clock
plus ``offset_ms`` (``advance_clock``), so a test ages the log without waiting. One Condition
guards everything and wakes every stream on a publish, a drop or an expiry.
"""

from __future__ import annotations

import bisect
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

ALL_CHANGES = "/data/ChangeEvents"
RETENTION_S = 72 * 3600
DELIVERY_LIMIT = 10_000  # Developer Edition's 24 h allocation, like the emulator's API limit


def entity_topic(entity: str) -> str:
    return f"/data/{entity}ChangeEvent"


class ReplayError(Exception):
    """A replay position the bus cannot serve; ``code`` is the Pub/Sub error code's suffix."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Published:
    replay: int
    topics: frozenset[str]
    entity: str
    schema_id: str
    payload: bytes
    event_id: str
    commit_ms: int


class EventBus:
    def __init__(self, clock: Callable[[], int], rng: random.Random | None = None):
        self.clock = clock
        self.rng = rng or random.SystemRandom()
        self.cond = threading.Condition()
        self.events: list[Published] = []  # in replay order
        self._replays: list[int] = []  # the same, their replay positions (bisect)
        self.retention_s = RETENTION_S
        self.delivery_limit = DELIVERY_LIMIT
        self.offset_ms = 0
        self.generation = 0  # drop_streams bumps it; streams of an older generation end
        self.drop_code = "service.unavailable"
        self.closed = False
        self._last = self.now_ms() << 16
        self.delivered: Counter[tuple[str, str]] = Counter()  # (UTC day, subscriber) → events
        self.counters: Counter[str] = Counter()

    # ---------------------------------------------------------------------------- clock

    def now_ms(self) -> int:
        return self.clock() + self.offset_ms

    def day(self) -> str:
        return datetime.fromtimestamp(self.now_ms() / 1000, UTC).date().isoformat()

    def _next_id(self) -> int:
        """A new position after every one handed out; caller holds ``cond``."""
        self._last = max(self._last + self.rng.randint(1, 9), self.now_ms() << 16)
        return self._last

    # -------------------------------------------------------------------------- publish

    def publish(
        self, entity: str, schema_id: str, payload: bytes, event_id: str, commit_ms: int
    ) -> int:
        with self.cond:
            replay = self._next_id()
            topics = frozenset({entity_topic(entity), ALL_CHANGES})
            self.events.append(
                Published(replay, topics, entity, schema_id, payload, event_id, commit_ms)
            )
            self._replays.append(replay)
            self.counters["published"] += 1
            self.cond.notify_all()
            return replay

    # ------------------------------------------------------------------------ positions

    def _floor(self) -> int:
        """The oldest position still retained; caller holds ``cond``. Older events are dropped."""
        floor = (self.now_ms() - self.retention_s * 1000) << 16
        expired = bisect.bisect_left(self._replays, floor)
        if expired:
            del self.events[:expired], self._replays[:expired]
        return floor

    def start(self, preset: int, replay_id: bytes) -> int:
        """The position a new stream reads after (0 LATEST, 1 EARLIEST, 2 CUSTOM)."""
        with self.cond:
            floor = self._floor()
            if preset == 0:
                return self._last
            if preset == 1:
                return floor - 1
            if not replay_id:
                raise ReplayError(
                    "subscription.fetch.replayid.validation.failed",
                    "The Replay ID validation failed. A CUSTOM replay preset needs a replay ID.",
                )
            position = int.from_bytes(replay_id, "big") if len(replay_id) == 8 else -1
            if position < floor or position > self._last:
                raise ReplayError(
                    "subscription.fetch.replayid.corrupted",
                    "The Replay ID validation failed. Ensure that the Replay ID is valid.",
                )
            return position

    def after(self, position: int, topic: str, limit: int) -> list[Published]:
        """Up to ``limit`` kept events of ``topic`` after ``position``; caller holds ``cond``."""
        self._floor()
        found = []
        for event in self.events[bisect.bisect_right(self._replays, position) :]:
            if topic in event.topics:
                found.append(event)
                if len(found) >= limit:
                    break
        return found

    def keepalive_position(self) -> int:
        """An advanced position for an idle stream (caller holds ``cond`` and found no events)."""
        self.counters["keepalives"] += 1
        return self._next_id()

    @staticmethod
    def encode(position: int) -> bytes:
        return position.to_bytes(8, "big")

    # ----------------------------------------------------------------------- allocation

    def allow(self, subscriber: str, wanted: int) -> int:
        """How many of ``wanted`` events the 24 h allocation still lets out (counted delivered)."""
        with self.cond:
            day = self.day()
            used = sum(n for (d, _), n in self.delivered.items() if d == day)
            granted = max(0, min(wanted, self.delivery_limit - used))
            if granted:
                self.delivered[(day, subscriber)] += granted
            return granted

    def delivered_today(self) -> int:
        day = self.day()
        with self.cond:
            return sum(n for (d, _), n in self.delivered.items() if d == day)

    def exhaust(self) -> None:
        """Spend the rest of today's allocation (as other subscribers of the org would)."""
        with self.cond:
            rest = self.delivery_limit - sum(
                n for (d, _), n in self.delivered.items() if d == self.day()
            )
            if rest > 0:
                self.delivered[(self.day(), "other subscribers")] += rest
            self.cond.notify_all()

    # -------------------------------------------------------------------------- streams

    def drop(self, code: str) -> None:
        with self.cond:
            self.drop_code = code
            self.generation += 1
            self.cond.notify_all()

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
