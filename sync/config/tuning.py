"""The optional sections of the config, each key with its default: ``schedule``, ``limits``,
``http``, and what running as a service adds, ``retention`` and ``metrics`` (README.md,
"Pointing it at a real org").

A value with a problem falls back to its default only so the build can go on: the config is
refused anyway, with every problem.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sync.common.yamldoc import KeyPath
from sync.config.reader import Reader
from sync.config.settings import (
    MIN_CALLS_PER_RUN,
    HttpConfig,
    Limits,
    Metrics,
    Retention,
    Schedule,
)


def parse_tuning(r: Reader, raw: dict) -> dict[str, Any]:
    """The Settings keywords of the optional sections: schedule, limits, http, retention and
    metrics (see the module's docstring)."""
    limits = r.section(
        raw,
        ("limits",),
        {"max_org_api_percent", "max_calls_per_run", "bulk_threshold"},
        required=False,
    )
    http = r.section(raw, ("http",), {"timeout", "retries"}, required=False)
    timeout = r.duration(http, ("http", "timeout"), "30s")
    if timeout is not None and timeout <= timedelta(0):
        r.problem(("http", "timeout"), "must be more than 0s")
    budget = Limits(
        **_given(
            max_org_api_percent=_percent(r, limits, ("limits", "max_org_api_percent")),
            max_calls_per_run=r.number(
                limits,
                ("limits", "max_calls_per_run"),
                5000,
                int,
                minimum=MIN_CALLS_PER_RUN,
                why=f": a run needs at least {MIN_CALLS_PER_RUN} Salesforce data calls to make "
                "progress (one query page and one write-back)",
            ),
            bulk_threshold=r.number(limits, ("limits", "bulk_threshold"), 10_000, int, minimum=0),
        )
    )
    http_config = HttpConfig(
        **_given(
            timeout=timeout.total_seconds() if timeout else None,
            retries=r.number(http, ("http", "retries"), 5, int, minimum=0),
        )
    )
    return dict(schedule=_schedule(r, raw), limits=budget, http=http_config, **_service(r, raw))


def _percent(r: Reader, limits: dict, where: KeyPath) -> float | None:
    """The org's share a run may reach: 0 would stop every run at once (exit 4, forever)."""
    percent = r.number(limits, where, 80.0, float)
    if percent is not None and not 0 < percent <= 100:
        r.problem(
            where,
            f"{percent!r} is outside (0, 100]: the share of the org's daily API requests a run may "
            "reach, more than 0 and at most 100",
        )
        return None
    return percent


def _given(**values: Any) -> dict[str, Any]:
    """The values that passed their checks; the dataclass's own default stands in for the others."""
    return {k: v for k, v in values.items() if v is not None}


def _schedule(r: Reader, raw: dict) -> Schedule:
    at = ("schedule",)
    sched = r.section(
        raw,
        at,
        {
            "interval",
            "hours_interval",
            "backsync_interval",
            "backoff_max",
            "reconcile",
            "reconcile_repair",
        },
        required=False,
    )
    interval = r.duration(sched, (*at, "interval"), "30s") if "interval" in sched else None
    if interval is not None and 0 < interval.total_seconds() < 1:
        r.problem(
            (*at, "interval"),
            f"{interval.total_seconds():g}s is too short; the daemon cycles every 1s at most",
        )
    interval = interval or None  # unreadable (reported) or 0: the daemon's default
    return Schedule(
        **_given(
            interval=interval,
            hours_interval=r.duration(sched, (*at, "hours_interval"), "1h"),
            backsync_interval=r.duration(sched, (*at, "backsync_interval"), "5m"),
            backoff_max=r.duration(sched, (*at, "backoff_max"), "10m"),
            reconcile=r.at(sched, (*at, "reconcile"), None),
            reconcile_repair=r.flag(sched, (*at, "reconcile_repair"), False),
        )
    )


def _service(r: Reader, raw: dict) -> dict[str, Any]:
    """What running as a service adds: retention of old runs and events, and Prometheus metrics."""
    keep = r.section(raw, ("retention",), {"runs", "events", "at"}, required=False)
    metrics = r.section(raw, ("metrics",), {"textfile", "port", "address"}, required=False)
    textfile = r.text(metrics, ("metrics", "textfile"))
    port = (
        r.number(metrics, ("metrics", "port"), None, int)
        if metrics.get("port") is not None
        else None
    )
    if port is not None and not 0 < port < 65536:
        r.problem(("metrics", "port"), f"{port} is not a TCP port (1-65535)")
    return dict(
        retention=Retention(
            **_given(
                runs=r.duration(keep, ("retention", "runs"), "30d"),
                events=r.duration(keep, ("retention", "events"), "365d"),
                at=r.at(keep, ("retention", "at"), "03:30"),
            )
        ),
        metrics=Metrics(
            textfile=r.resolve(textfile) if textfile else None,
            port=port,
            # an empty value (`address:`) is the default, as every other empty text value is
            address=r.text(metrics, ("metrics", "address")) or Metrics.address,
        ),
    )
