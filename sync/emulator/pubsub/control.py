"""The Pub/Sub part of the control API: stream timing, retention, injected events, faults, counts.

Mixed into ``Emulator`` beside ``ControlMixin``; every method here is also reachable as
``POST /__emulator/<method>`` (``PUBSUB_HTTP_METHODS``).
"""

from __future__ import annotations

from typing import Any

from sync.emulator.pubsub.publisher import OVERFLOW_ID

PUBSUB_HTTP_METHODS = {
    "configure_pubsub",
    "advance_event_clock",
    "publish_gap",
    "publish_overflow",
    "publish_wildcard",
    "exhaust_delivery",
    "drop_streams",
    "pubsub_snapshot",
}
_GAPS = {"GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE"}


class PubSubControlMixin:
    """Relies on the Emulator's ``pubsub`` and ``records``."""

    def configure_pubsub(
        self,
        keepalive_s: float | None = None,
        idle_close_s: float | None = None,
        retention_s: float | None = None,
        delivery_limit: int | None = None,
    ) -> None:
        """Keepalive interval (default 270 s), idle close (60 s), retention (72 h of the bus clock)
        and the org's 24 h delivery allocation (10,000)."""
        for name, value in (
            ("keepalive_s", keepalive_s),
            ("idle_close_s", idle_close_s),
            ("retention_s", retention_s),
            ("delivery_limit", delivery_limit),
        ):
            if value is not None and (not isinstance(value, int | float) or value <= 0):
                raise ValueError(f"{name} must be a number > 0, not {value!r}")
        settings, bus = self.pubsub.settings, self.pubsub.bus
        settings.keepalive_s = keepalive_s or settings.keepalive_s
        settings.idle_close_s = idle_close_s or settings.idle_close_s
        bus.retention_s = retention_s or bus.retention_s
        bus.delivery_limit = delivery_limit or bus.delivery_limit
        bus.wake()

    def advance_event_clock(self, seconds: float) -> None:
        """Move the bus clock on (retention and the delivery day), not the org's record stamps."""
        with self.pubsub.bus.cond:
            self.pubsub.bus.offset_ms += int(seconds * 1000)
            self.pubsub.bus.cond.notify_all()

    def publish_gap(self, record_ids: list[str], change_type: str = "GAP_UPDATE") -> None:
        """A gap event naming these records (of one object), header only."""
        if change_type not in _GAPS:
            raise ValueError(f"change_type must be one of {sorted(_GAPS)}, not {change_type!r}")
        obj = self._object_of(record_ids[0])
        self.pubsub.publisher.header_only(obj, list(record_ids), change_type)

    def publish_overflow(self, obj: str = "Opportunity") -> None:
        """A GAP_OVERFLOW event (``recordIds`` ``000000000000000AAA``): the ids are unknown."""
        self.pubsub.publisher.header_only(self.records.object(obj), [OVERFLOW_ID], "GAP_OVERFLOW")

    def publish_wildcard(self, obj: str = "Opportunity", change_type: str = "GAP_UPDATE") -> None:
        """An event whose recordIds is the key prefix and ``*`` (a lossy field type conversion)."""
        definition = self.records.object(obj)
        self.pubsub.publisher.header_only(definition, [definition.key_prefix + "*"], change_type)

    def exhaust_delivery(self) -> None:
        """Spend the rest of today's delivery allocation: the next delivery fails the stream."""
        self.pubsub.bus.exhaust()

    def drop_streams(self, code: str = "service.unavailable") -> None:
        """End every open stream with UNAVAILABLE and this error code (the service went away)."""
        self.pubsub.bus.drop(code)

    def pubsub_snapshot(self) -> dict[str, Any]:
        """Counters: RPCs, streams opened and open, keepalives, events published and delivered
        (today in total and per subscriber and day), the allocation."""
        bus = self.pubsub.bus
        with bus.cond:
            counters = dict(bus.counters)
            delivered: dict[str, dict[str, int]] = {}
            for (day, subscriber), count in bus.delivered.items():
                delivered.setdefault(day, {})[subscriber] = count
        return {
            **counters,
            "delivered": delivered,
            "delivered_today": bus.delivered_today(),
            "delivery_limit": bus.delivery_limit,
        }
