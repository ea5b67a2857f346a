"""The listener thread: one per topic. It decodes headers and queues them; it never calls REST and
never writes the state file (the daemon's main thread does both, one job at a time,
docs/architecture.md §16).

What it puts on the queue, in stream order:

- ``Notice``: an event (its replay id and header).
- ``Unreadable``: an event that does not fit its schema (skipped; the daemon polls a window
  instead).
- ``Keepalive``: an empty response's ``latest_replay_id`` (the stream is alive and nothing is owed).
- ``Up``: the stream is (re)connected.
- ``Down``: it ended, with the ``Fault`` and what the listener does next.

Resubscribing after a fault starts after the last replay id it queued (the queue is drained in order
by the same process, so nothing in between is lost), except after ``REPLAY_TOO_OLD``: then from
LATEST, once, and the daemon polls a window at once, which covers the time the stream cannot. After
an auth fault it waits for the daemon's new token (at most 30 s), then resubscribes. Back-off
doubles from 1 s up to ``BACKOFF_MAX``; a spent allocation waits ``LIMIT_PAUSE``; a ``CONFIG`` fault
ends the thread (events off until a person fixes it; the poll goes on at ``schedule.interval``).
``sleep`` is injected (tests), as is ``clock`` (wall seconds, for ``status``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sync.common.errors import ProtocolViolation
from sync.events.client import Fault, PubSub, StreamError, Subscription
from sync.events.headers import Header, Schemas, decode_header

logger = logging.getLogger(__name__)

AUTH_WAIT = 0.2  # seconds between two looks for the daemon's new token
AUTH_LOOKS = 150  # how often to look (30 s) before subscribing with whatever token there is
BACKOFF_MAX = 300.0  # seconds between two resubscribes at most
LIMIT_PAUSE = (
    3600.0  # the delivery allocation is a rolling 24 h: try again in an hour, polling meanwhile
)


@dataclass(frozen=True)
class Notice:
    topic: str
    replay_id: bytes
    header: Header
    received: float  # wall clock, seconds


@dataclass(frozen=True)
class Unreadable:
    """An event that does not fit its schema: its deals are unknown; the daemon polls a window."""

    topic: str
    replay_id: bytes
    message: str


@dataclass(frozen=True)
class Keepalive:
    topic: str
    replay_id: bytes


@dataclass(frozen=True)
class Up:
    topic: str
    at: float
    latest: bool  # subscribed from LATEST (no usable replay id)


@dataclass(frozen=True)
class Down:
    topic: str
    fault: Fault
    message: str
    at: float
    retry_in: float | None  # None: the listener gave up (CONFIG)


class Listener(threading.Thread):
    def __init__(
        self,
        pubsub: PubSub,
        topic: str,
        start: bytes | None,
        out: queue.Queue,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], bool] | None = None,
    ):
        super().__init__(name=f"events {topic}", daemon=True)
        self.pubsub, self.topic, self.position, self.out = pubsub, topic, start, out
        self.schemas = Schemas(pubsub.schema_json)
        self.clock = clock
        self._stopped = threading.Event()
        self.sleep = sleep or self._stopped.wait  # returns True when stopped meanwhile
        self.failures = 0
        self._current: Subscription | None = None
        self._refused: str | None = None  # the token an auth fault refused

    def stop(self) -> None:
        self._stopped.set()
        self.restart()

    def restart(self) -> None:
        """End the current stream (the watchdog saw it silent too long); the loop resubscribes."""
        current = self._current
        if current is not None:
            current.cancel()

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._stream()
                continue  # cancelled by restart(): resubscribe at once
            except StreamError as exc:
                delay = self._after(exc)
            except Exception as exc:  # noqa: BLE001 - a bug must not end events silently: say it, retry
                logger.exception("events: the listener of %s failed unexpectedly", self.topic)
                delay = self._after(StreamError("BUG", "", repr(exc)))
            if delay is None or self.sleep(delay) or self._await_token():
                return

    def _await_token(self) -> bool:
        """After an auth fault: wait for the daemon's main thread to get a new token (the REST
        client is not thread-safe, so the listener never asks for one itself). True if stopped
        meanwhile."""
        refused, self._refused = self._refused, None
        for _ in range(AUTH_LOOKS if refused else 0):
            if self.pubsub.credentials().access_token != refused:
                break
            if self.sleep(AUTH_WAIT):
                return True
        return False

    def _stream(self) -> None:
        self._current = self.pubsub.subscribe(self.topic, self.position)
        self.out.put(Up(self.topic, self.clock(), latest=self.position is None))
        for response in self._current:
            self.failures = 0
            for event in response.events:
                try:
                    header = decode_header(self.schemas[event.event.schema_id], event.event.payload)
                except (
                    ProtocolViolation
                ) as exc:  # resubscribing would bring it again, forever: skip, poll
                    logger.warning(
                        "events: an event of %s cannot be read (%s); a poll window covers it",
                        self.topic,
                        exc,
                    )
                    self.out.put(Unreadable(self.topic, event.replay_id, str(exc)))
                else:
                    self.out.put(Notice(self.topic, event.replay_id, header, self.clock()))
                self.position = event.replay_id
            if not response.events and response.latest_replay_id:
                self.out.put(Keepalive(self.topic, response.latest_replay_id))
                self.position = response.latest_replay_id

    def _after(self, exc: StreamError) -> float | None:
        """Queue the ``Down`` and say how long to wait before resubscribing (None: give up)."""
        self._current = None
        if exc.fault is Fault.REPLAY_TOO_OLD and self.position is not None:
            self.position, delay = (
                None,
                0.0,
            )  # LATEST now, once; the daemon polls the gap: never a loop
        elif exc.fault is Fault.CONFIG:
            delay = None
        elif exc.fault is Fault.AUTH:
            self._refused, delay = self.pubsub.credentials().access_token, 0.0
        elif exc.fault is Fault.LIMIT:
            delay = LIMIT_PAUSE
        else:
            self.failures += 1
            delay = min(BACKOFF_MAX, 2.0 ** (self.failures - 1))
        self.out.put(Down(self.topic, exc.fault, str(exc), self.clock(), delay))
        return delay
