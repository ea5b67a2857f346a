"""The state file as Prometheus metric families: a textfile after each run, the daemon's /metrics.

Names follow Prometheus conventions (``psa_sync_`` prefix, base units, ``_total`` for counters,
``_timestamp_seconds`` for Unix times); README "Metrics" lists them. Failing to write metrics never
fails a run: it is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from sync.common.clock import parse_iso
from sync.config import Settings
from sync.ops.metrics import totals as cumulative
from sync.ops.metrics.events import event_families
from sync.ops.metrics.server import MetricsServer
from sync.state import State
from sync.state.codec import loads

logger = logging.getLogger(__name__)
P = "psa_sync_"


class StateCollector:
    """Reads the state file on every collection: ``state`` when given (the run's own, open), else
    the config's file read-only (a scrape while a run writes is safe: WAL)."""

    def __init__(self, settings: Settings, state: State | None = None):
        self.settings = settings
        self.state = state

    def collect(self) -> Iterator[Metric]:
        state = self.state or State.open_readonly(self.settings.state)
        if state is None:
            return
        try:
            yield from _families(state)
        finally:
            if self.state is None:
                state.close()


def _families(state: State) -> Iterator[Metric]:
    last = state.last_finished_run()
    success = state.last_success()
    if last is not None:
        yield _gauge(
            "last_run_timestamp_seconds",
            "When the last run finished (Unix time)",
            parse_iso(last["finished_at"]).timestamp(),
        )
        yield _gauge(
            "last_run_duration_seconds",
            "How long the last run took",
            (parse_iso(last["finished_at"]) - parse_iso(last["started_at"])).total_seconds(),
        )
        yield _gauge(
            "last_run_exit_code",
            "The exit code of the last run (README: Running it)",
            last["exit_code"],
        )
        usage = loads(last["org_usage"]) or {}
        if usage.get("max"):
            yield _gauge(
                "salesforce_org_api_used",
                "The org's API requests used today, per the last run",
                usage.get("used") or 0,
            )
            yield _gauge(
                "salesforce_org_api_limit", "The org's daily API request limit", usage["max"]
            )
    if success is not None:
        yield _gauge(
            "last_success_timestamp_seconds",
            "When the last successful run (exit 0 or 1) finished",
            parse_iso(success).timestamp(),
        )
    counts = state.counts()
    for name, doc in (
        ("links", "Deals linked to a project"),
        ("quarantine", "Deals in the quarantine"),
        ("outbox", "Deals waiting for a Salesforce write-back"),
        ("intents", "PSA writes in doubt"),
    ):
        yield _gauge(f"{name}_deals" if name != "links" else "links", doc, counts[name])
    totals = cumulative.read(state)
    runs = CounterMetricFamily(
        P + "runs", "Runs by mode and exit code", labels=["mode", "exit_code"]
    )
    for mode, by_code in sorted(totals["runs"].items()):
        for code, n in sorted(by_code.items()):
            runs.add_metric([mode, code], n)
    yield runs
    for name in cumulative.DEALS:
        yield CounterMetricFamily(
            P + f"deals_{name}", f"Deals {name}, all runs together", value=totals["deals"][name]
        )
    calls = CounterMetricFamily(
        P + "salesforce_calls", "Salesforce API calls by endpoint", labels=["endpoint"]
    )
    for endpoint, n in sorted(totals["salesforce_calls"].items()):
        calls.add_metric([endpoint], n)
    yield calls
    yield CounterMetricFamily(P + "psa_calls", "PSA API calls answered", value=totals["psa_calls"])
    latency = totals["latency"]
    running, buckets = 0, []
    for bound, n in zip(
        (*map(str, cumulative.LATENCY_BUCKETS), "+Inf"), latency["buckets"], strict=True
    ):
        running += n
        buckets.append((bound, running))
    yield HistogramMetricFamily(
        P + "won_to_project_seconds",
        "From a deal's stamp when read as won to the creation of its project",
        buckets=buckets,
        sum_value=latency["sum"],
    )
    yield from event_families(state)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(P + name, doc, value=value)


def registry_of(settings: Settings, state: State | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(settings, state))
    return registry


def write_textfile(settings: Settings, state: State) -> None:
    """Rewrite ``metrics.textfile`` atomically (a temporary file, then rename: node_exporter never
    reads half a file). Called after every run, under its lock."""
    path: Path | None = settings.metrics.textfile
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(path), registry_of(settings, state))
    except Exception as exc:  # noqa: BLE001 - metrics must never fail the run they describe
        logger.warning("metrics: could not write %s: %s", path, exc)


def serve(settings: Settings, **limits) -> MetricsServer | None:
    """Serve ``/metrics`` on ``metrics.port`` from a background thread; the server, or None.

    Raises ConfigError naming the address when it cannot be served there (a port in use). ``limits``
    (``slots``, ``idle_timeout``) are :class:`MetricsServer`'s; its collector's ``settings`` may be
    replaced (a reload pointing at another state file)."""
    if settings.metrics.port is None:
        return None
    collector = StateCollector(settings)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server = MetricsServer(
        settings.metrics.address, settings.metrics.port, registry, **limits
    ).start()
    server.collector = collector
    logger.info("metrics: serving /metrics on %s", server.where)
    return server
