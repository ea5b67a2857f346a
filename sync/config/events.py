"""The ``events:`` section: the daemon's Change Data Capture (docs/architecture.md §16, README
"Events").

Read like every other section (``file:line: key.path: message``, every problem at once). Only
``psa-sync daemon`` uses it; ``run`` from cron polls as it always did, whatever this section says.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sync.common.yamldoc import KeyPath
from sync.config.reader import Reader
from sync.config.settings import PUBSUB_ENDPOINT, Events

_KEYS = {
    "enabled",
    "topic",
    "line_items_topic",
    "pubsub_url",
    "safety_poll",
    "stale_after",
    "daily_allocation",
}
_TOPIC = re.compile(r"/data/[A-Za-z][A-Za-z0-9_]*(ChangeEvent|ChangeEvents|__chn)")
_ENDPOINT = re.compile(r"(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})")


def parse_events(r: Reader, raw: dict) -> Events:
    at = ("events",)
    ev = r.section(raw, at, _KEYS, required=False)
    if not ev:
        return Events()
    topic = _topic(r, ev, (*at, "topic"), Events.topic)
    items = _topic(r, ev, (*at, "line_items_topic"), None)
    safety = r.duration(ev, (*at, "safety_poll"), "1h")
    if safety is not None and safety < timedelta(minutes=1):
        r.problem(
            (*at, "safety_poll"),
            "must be 1m or more: it is the poll while the stream is healthy "
            "(schedule.interval is the poll while it is not)",
        )
    stale = r.duration(ev, (*at, "stale_after"), "10m")
    if stale is not None and stale <= timedelta(0):
        r.problem(
            (*at, "stale_after"),
            "must be more than 0s (a real org: 5m or more, as Salesforce sends a "
            "keepalive only every 270s on a quiet stream)",
        )
    return Events(
        enabled=r.flag(ev, (*at, "enabled"), False),
        topic=topic or Events.topic,
        line_items_topic=items,
        pubsub_url=_endpoint(r, ev, (*at, "pubsub_url")),
        safety_poll=safety or Events.safety_poll,
        stale_after=stale or Events.stale_after,
        daily_allocation=_allocation(r, ev, (*at, "daily_allocation")),
    )


def _allocation(r: Reader, ev: dict, where: KeyPath) -> int | None:
    """The org's delivery allocation: ``status`` shows it when the token cannot read ``/limits``."""
    if ev.get(where[-1]) is None:
        return None
    why = "the org's daily delivery allocation (Setup → Company Information, or Salesforce support)"
    return r.number(ev, where, 0, int, minimum=1, why=why)


def _topic(r: Reader, ev: dict, where: KeyPath, default: str | None) -> str | None:
    value = r.text(ev, where, default=default)
    if value is not None and not _TOPIC.fullmatch(value):
        r.problem(
            where,
            f"'{value}' is not a change event channel; write /data/OpportunityChangeEvent, "
            "/data/ChangeEvents or a custom channel /data/<Name>__chn",
        )
        return None
    return value


def _endpoint(r: Reader, ev: dict, where: KeyPath) -> str:
    value = r.text(ev, where, default=PUBSUB_ENDPOINT)
    text = (value or "").removeprefix("https://").rstrip("/")
    match = _ENDPOINT.fullmatch(text)
    if match is None or not 0 < int(match["port"]) < 65536:
        if value is not None:
            r.problem(where, f"'{value}' is not host:port, e.g. {PUBSUB_ENDPOINT} (always TLS)")
        return PUBSUB_ENDPOINT
    return text
