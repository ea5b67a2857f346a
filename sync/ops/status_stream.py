"""The event stream's part of ``status`` (``events:``): as the daemon last recorded it, each topic's
replay id age, and the events today against the org's daily delivery allocation.

The allocation is what the daemon last read from REST ``/limits`` (``DailyDeliveredPlatformEvents``,
``sync.daemon.allocation``), with when; ``status`` itself makes no call. Without a read (a token
that may not read ``/limits``, or a daemon that has not polled yet) it is
``events.daily_allocation`` from the config, else unknown.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sync.config import Settings
from sync.state import State
from sync.state import events as stored


def stream_view(state: State, settings: Settings) -> dict[str, Any] | None:
    """The event path as the daemon last recorded it, with each topic's replay id age."""
    status = stored.stream_status(state)
    if status is None and not settings.events.enabled:
        return None
    status = dict(status or {})
    today = datetime.now(UTC).date().isoformat()
    replays = {}
    for topic in filter(None, (settings.events.topic, settings.events.line_items_topic)):
        saved = stored.replay(state, topic)
        replays[topic] = (
            None
            if saved is None
            else {
                "saved_at": saved.saved_at.isoformat(timespec="seconds"),
                "age_seconds": round((datetime.now(UTC) - saved.saved_at).total_seconds()),
            }
        )
    return {
        "enabled": settings.events.enabled,
        "connected_since": status.get("connected_since"),
        "last_message": status.get("last_message"),
        "last_event": status.get("last_event"),
        "events_today": (status.get("events_today") or {}).get(today, 0),
        "allocation": allocation_view(state, settings),
        "echoes": status.get("echoes", 0),
        "fallbacks": status.get("fallbacks", {}),
        "reconnects": status.get("reconnects", 0),
        "last_fault": status.get("last_fault"),
        "replay": replays,
    }


def allocation_view(state: State, settings: Settings) -> dict[str, Any] | None:
    """``{max, remaining, read_at, source}``: ``/limits`` as last read, else the config's figure
    (``remaining`` and ``read_at`` None), else None."""
    read = stored.allocation(state)
    if read is not None:
        return {
            "max": read.maximum,
            "remaining": read.remaining,
            "read_at": read.read_at.isoformat(timespec="seconds"),
            "source": "limits",
        }
    if settings.events.daily_allocation is not None:
        return {
            "max": settings.events.daily_allocation,
            "remaining": None,
            "read_at": None,
            "source": "config",
        }
    return None


def allocation_text(stream: dict[str, Any]) -> str:
    """``events today 12 of the allocation 25000 (24810 remaining at …)``."""
    today, figure = stream["events_today"], stream.get("allocation")
    if figure is None:
        return (
            f"events today {today} of an unknown allocation "
            "(/limits not read yet or not readable; events.daily_allocation is not set)"
        )
    if figure["source"] == "config":
        return f"events today {today} of the allocation {figure['max']} (events.daily_allocation)"
    return (
        f"events today {today} of the allocation {figure['max']} "
        f"({figure['remaining']} remaining at {figure['read_at']})"
    )


def stream_line(stream: dict[str, Any]) -> str:
    ages = [f"{r['age_seconds']}s" for r in stream["replay"].values() if r]
    fallbacks = ", ".join(f"{k} {v}" for k, v in sorted(stream["fallbacks"].items())) or "none"
    state = (
        f"connected since {stream['connected_since']}"
        if stream["connected_since"]
        else "NOT connected"
    )
    return (
        f"events    {state}; last message {stream['last_message'] or '-'}; last event "
        f"{stream['last_event'] or '-'}; replay id age {', '.join(ages) or '(none)'}; "
        f"{allocation_text(stream)}; fallbacks {fallbacks}"
    )
