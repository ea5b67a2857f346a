"""The event path's state (issue 24): each topic's replay id, and the stream's for ``status``.

All live in ``meta`` (no migration): ``events.replay:<topic>``, ``events.stream`` and
``events.allocation`` (the org's delivery allocation as ``/limits`` last said it), JSON. The
replay id is written only inside the transaction of the page that processed its events
(``save_replay`` is called from that page's commit), never on receipt: a crash replays those events,
and a replay changes nothing (links, intents and payload hashes, docs/architecture.md §5). Replay
ids are opaque bytes, stored as hex, compared only for equality. The org and instance they belong to
are kept with them: a sandbox refresh or an instance migration makes a stored replay id meaningless,
and it is then dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.common.clock import iso, parse_iso, utcnow
from sync.state.store import State

STREAM = "events.stream"
ALLOCATION = "events.allocation"  # the last read of /limits' DailyDeliveredPlatformEvents


def _replay_key(topic: str) -> str:
    return f"events.replay:{topic}"


@dataclass(frozen=True)
class Replay:
    """Where a topic's subscription goes on: after ``replay_id``, saved at ``saved_at``."""

    topic: str
    replay_id: bytes
    org_id: str
    instance_url: str
    saved_at: datetime

    def belongs_to(self, org_id: str, instance_url: str) -> bool:
        return (self.org_id, self.instance_url.rstrip("/")) == (org_id, instance_url.rstrip("/"))


def replay(state: State, topic: str) -> Replay | None:
    text = state.meta(_replay_key(topic))
    if not text:
        return None
    data = json.loads(text)
    return Replay(
        topic,
        bytes.fromhex(data["replay_id"]),
        data["org_id"],
        data["instance_url"],
        parse_iso(data["saved_at"]),
    )


def save_replay(state: State, topic: str, replay_id: bytes, org_id: str, instance_url: str) -> None:
    """Inside the committing page's transaction (or one of its own when no page was needed)."""
    state.set_meta(
        _replay_key(topic),
        json.dumps(
            {
                "replay_id": replay_id.hex(),
                "org_id": org_id,
                "instance_url": instance_url,
                "saved_at": iso(utcnow()),
            }
        ),
    )


def forget_replay(state: State, topic: str) -> None:
    state.set_meta(_replay_key(topic), "")


def stream_status(state: State) -> dict[str, Any] | None:
    """The daemon's last record of its stream (``status``); None if it never ran with events."""
    text = state.meta(STREAM)
    return json.loads(text) if text else None


def save_stream_status(state: State, status: dict[str, Any]) -> None:
    state.set_meta(STREAM, json.dumps(status, sort_keys=True, default=str))


@dataclass(frozen=True)
class Allocation:
    """The org's daily delivery allocation as REST ``/limits`` last said it
    (``DailyDeliveredPlatformEvents``): ``remaining`` of ``maximum`` at ``read_at``."""

    maximum: int
    remaining: int
    read_at: datetime


def allocation(state: State) -> Allocation | None:
    """What the daemon last read from ``/limits``, or None (never read, or not readable)."""
    text = state.meta(ALLOCATION)
    if not text:
        return None
    data = json.loads(text)
    return Allocation(data["max"], data["remaining"], parse_iso(data["read_at"]))


def save_allocation(state: State, figure: Allocation) -> None:
    state.set_meta(
        ALLOCATION,
        json.dumps(
            {"max": figure.maximum, "remaining": figure.remaining, "read_at": iso(figure.read_at)}
        ),
    )
