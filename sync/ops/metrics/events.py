"""The daemon's event stream as metric families (README "Metrics").

Events received, their lag (receipt − commitTimestamp) as a histogram, reconnects and fallbacks
by reason, whether it is connected, and the org's delivery allocation as the daemon last read it
from ``/limits``.

Read from what the daemon records in the state file (``sync.state.events``), so the textfile and
``/metrics`` say the same; a state file whose daemon never ran with events has none of them.
Counters are the daemon's since it started (a restart begins again at 0, which Prometheus' ``rate``
reads as a counter reset).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from sync.state import State
from sync.state.events import allocation, stream_status

P = "psa_sync_"
LAG_BUCKETS = (
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)  # as sync.daemon.events records them


def event_families(state: State) -> Iterator[Metric]:
    yield from _allocation(state)
    status = stream_status(state)
    if status is None:
        return
    yield GaugeMetricFamily(
        P + "events_connected",
        "1 while the daemon's change event stream is connected",
        value=1 if status.get("connected_since") else 0,
    )
    yield CounterMetricFamily(
        P + "events_received", "Change events received", value=status.get("events_total", 0)
    )
    yield CounterMetricFamily(
        P + "events_echoes",
        "Change events of psa-sync's own writes, skipped",
        value=status.get("echoes", 0),
    )
    yield CounterMetricFamily(
        P + "events_reconnects",
        "Times the stream ended and was resubscribed",
        value=status.get("reconnects", 0),
    )
    fallbacks = CounterMetricFamily(
        P + "events_fallbacks", "Fallbacks taken, by reason", labels=["reason"]
    )
    for reason, n in sorted((status.get("fallbacks") or {}).items()):
        fallbacks.add_metric([reason], n)
    yield fallbacks
    counts = status.get("lag_buckets") or [0] * (len(LAG_BUCKETS) + 1)
    running, buckets = 0, []
    for bound, n in zip((*map(str, LAG_BUCKETS), "+Inf"), counts, strict=True):
        running += n
        buckets.append((bound, running))
    yield HistogramMetricFamily(
        P + "events_lag_seconds",
        "From an event's commitTimestamp to its receipt",
        buckets=buckets,
        sum_value=status.get("lag_sum", 0.0),
    )


def _allocation(state: State) -> Iterator[Metric]:
    read = allocation(state)
    if read is not None:  # the daemon's last read of /limits (sync.daemon.allocation)
        yield GaugeMetricFamily(
            P + "events_allocation_max",
            "The org's daily delivered-event allocation (/limits DailyDeliveredPlatformEvents)",
            value=read.maximum,
        )
        yield GaugeMetricFamily(
            P + "events_allocation_remaining",
            "Delivered events the org had left when the daemon last read /limits",
            value=read.remaining,
        )
        yield GaugeMetricFamily(
            P + "events_allocation_read_timestamp_seconds",
            "When the daemon last read the allocation from /limits",
            value=read.read_at.timestamp(),
        )
