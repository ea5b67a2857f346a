"""The daemon's side of the event path: its listeners, the stream's health, and what ``status``
shows.

Owned by the main thread. ``drain()`` turns what the listeners queued into ``Work``
(sync.events.intake); ``healthy()`` says whether the poll may slow to ``events.safety_poll``: a
stream is healthy while every topic is connected and some message (event or keepalive) came within
``events.stale_after``. A silent stream is restarted (the watchdog): Salesforce promises a keepalive
within 270 s.

``status`` (the dict saved in the state file through ``sync.state.events``) holds: connected since,
last message, last event, events today, echoes skipped, fallbacks taken by reason, reconnects, the
last fault, and a histogram of the lag (receipt − commitTimestamp).
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sync.config import Settings
from sync.events.client import Credentials, PubSub
from sync.events.intake import Work, take
from sync.events.listener import Down, Keepalive, Listener, Notice, Unreadable, Up
from sync.mapping.model import Mapping
from sync.ops.metrics.events import LAG_BUCKETS

logger = logging.getLogger(__name__)

#: A fallback's poll window is run once more this long after it: the first one ends at Salesforce's
#: clock as a ``Date`` header gives it, to the whole second, so a change committed in the second
#: before that poll (the overflow's own changes) can fall after its end. One ``queryAll``.
FOLLOW_UP_SECONDS = 2.0
FOLLOW_UP = "follow_up"


def written_fields(mapping: Mapping) -> frozenset[str]:
    """The deal fields psa-sync itself writes: an event that changed only these is its own echo."""
    return frozenset(name.lower() for name in (*mapping.writeback, *mapping.backsync))


class EventPath:
    def __init__(
        self, settings: Settings, mapping: Mapping, clock: Callable[[], float] = time.time
    ):
        self.events, self.ca_bundle = settings.events, settings.salesforce.ca_bundle
        self.written = written_fields(mapping)
        self.clock = clock
        self.queue: queue.Queue = queue.Queue()
        self.listeners: list[Listener] = []
        self.pending = Work()  # what a failed cycle left: tried again at the next tick
        self.connected: dict[str, float] = {}  # topic → since
        self.gave_up = False
        self.last_message: float | None = None
        self.status: dict = {
            "fallbacks": {},
            "reconnects": 0,
            "events_today": {},
            "events_total": 0,
            "echoes": 0,
            "lag_buckets": [0] * (len(LAG_BUCKETS) + 1),
            "lag_sum": 0.0,
        }
        self.pubsub: PubSub | None = None
        self.allocation_read: float | None = None  # the last /limits read (sync.daemon.allocation)
        self.follow_up_at: float | None = None  # when a fallback's poll window runs once more

    @property
    def topics(self) -> list[str]:
        return [t for t in (self.events.topic, self.events.line_items_topic) if t]

    def start(
        self,
        credentials: Callable[[], Credentials],
        replays: dict[str, bytes | None],
        **listener_kw,
    ) -> None:
        self.pubsub = PubSub(self.events.pubsub_url, self.ca_bundle, credentials)
        for topic in self.topics:
            listener = Listener(
                self.pubsub, topic, replays.get(topic), self.queue, clock=self.clock, **listener_kw
            )
            listener.start()
            self.listeners.append(listener)
        logger.info(
            "events: subscribing to %s at %s", ", ".join(self.topics), self.events.pubsub_url
        )

    def stop(self) -> None:
        for listener in self.listeners:
            listener.stop()
        for listener in self.listeners:
            listener.join(timeout=5)
        if self.pubsub is not None:
            self.pubsub.close()

    @property
    def started(self) -> bool:
        return bool(self.listeners)

    def healthy(self) -> bool:
        now = self.clock()
        return (
            not self.gave_up
            and len(self.connected) == len(self.topics)
            and self.last_message is not None
            and now - self.last_message < self.events.stale_after.total_seconds()
        )

    def watchdog(self) -> None:
        """A stream silent past ``stale_after`` is ended; its listener resubscribes where it was."""
        quiet_since = self.last_message or min(self.connected.values(), default=None)
        if (
            quiet_since is not None
            and self.clock() - quiet_since >= self.events.stale_after.total_seconds()
        ):
            logger.warning(
                "events: no message for %ss; the stream is restarted", self.events.stale_after
            )
            self.last_message = self.clock()  # one restart per stale period, not one per tick
            self._fallback("stale")
            for listener in self.listeners:
                listener.restart()

    def drain(self) -> Work:
        items = []
        while True:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                break
        work = take(items, line_items_topic=self.events.line_items_topic, written=self.written)
        self._observe(items, work)
        due = self.follow_up_at is not None and self.clock() >= self.follow_up_at
        if due and FOLLOW_UP not in self.pending.poll_now:
            work.poll_now.append(FOLLOW_UP)
        self.pending = self.pending.merge(work)
        return self.pending

    def done(self) -> None:
        """The pending work is committed (its replay ids with it). A fallback's poll window is run
        once more :data:`FOLLOW_UP_SECONDS` later (not the follow-up's own)."""
        reasons = set(self.pending.poll_now)
        if reasons - {FOLLOW_UP}:
            self.follow_up_at = self.clock() + FOLLOW_UP_SECONDS
        elif FOLLOW_UP in reasons:
            self.follow_up_at = None
        self.pending = Work()

    # --- what status shows ------------------------------------------------------------------------

    def _observe(self, items: list, work: Work) -> None:
        heard = any(
            isinstance(item, (Notice, Keepalive, Unreadable)) for item in items
        )  # the stream itself spoke
        if heard:
            self.last_message = self.clock()
        for (
            item
        ) in items:  # in stream order: a drain may hold a stream's end and the next one's start
            if isinstance(item, Up):
                self.connected[item.topic] = item.at
                self.status["connected_since"] = _iso(min(self.connected.values()))
            elif isinstance(item, Down):
                self._down(item)
        for reason in work.poll_now:
            self._fallback(reason)
        if work.events:
            today = datetime.now(UTC).date().isoformat()
            self.status["events_today"] = {
                today: self.status["events_today"].get(today, 0) + work.events
            }
            self.status["last_event"] = _iso(self.clock())
            self.status["events_total"] += work.events
        self.status["echoes"] += work.echoes
        for lag in work.lags:
            self.status["lag_buckets"][
                next((i for i, b in enumerate(LAG_BUCKETS) if lag <= b), len(LAG_BUCKETS))
            ] += 1
            self.status["lag_sum"] += lag
        if heard:
            self.status["last_message"] = _iso(self.clock())
        self.status["connected"] = self.healthy() or bool(self.connected)

    def _down(self, down) -> None:
        self.connected.pop(down.topic, None)
        self.status.pop("connected_since", None)
        self.status["reconnects"] += down.retry_in is not None
        self.status["last_fault"] = {
            "at": _iso(down.at),
            "fault": down.fault.value,
            "message": down.message,
        }
        self._fallback(down.fault.value)
        level = logging.ERROR if down.retry_in is None else logging.WARNING
        then = (
            "events are off until this is fixed and the daemon restarted; the poll runs every "
            "schedule.interval"
            if down.retry_in is None
            else f"resubscribing in {down.retry_in:g}s; "
            "the poll runs every schedule.interval meanwhile"
        )
        logger.log(
            level,
            "events: the stream of %s ended (%s): %s; %s",
            down.topic,
            down.fault.value,
            down.message,
            then,
        )
        if down.retry_in is None:
            self.gave_up = True

    def _fallback(self, reason: str) -> None:
        self.status["fallbacks"][reason] = self.status["fallbacks"].get(reason, 0) + 1


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
