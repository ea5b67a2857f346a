"""The cumulative counters behind the metrics: one JSON document in ``meta``, ``metrics_totals``.

Updated in the same transaction as the run's row (``Session.finish``). Counters must only ever grow,
which rows of ``runs`` and ``events`` cannot promise once retention removes them. No Prometheus
import here: a run without metrics configured still keeps the counts, so metrics switched on later
start from the truth.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from sync.common.clock import parse_iso
from sync.state import State

KEY = "metrics_totals"
DEALS = ("extracted", "created", "updated", "quarantined")
#: Upper bounds (seconds) of the Closed Won → project latency histogram; the last bucket is +Inf.
LATENCY_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
LATENCY_MODES = (
    "run",
)  # a backfill's deals were won long ago: their latency says nothing of the sync


def empty() -> dict[str, Any]:
    return {
        "runs": {},
        "deals": dict.fromkeys(DEALS, 0),
        "salesforce_calls": {},
        "psa_calls": 0,
        "latency": {"buckets": [0] * (len(LATENCY_BUCKETS) + 1), "sum": 0.0, "count": 0},
    }


def read(state: State) -> dict[str, Any]:
    saved = state.meta(KEY)
    totals = empty()
    if saved:
        totals.update(json.loads(saved))
    return totals


def add_run(
    state: State,
    run_id: int,
    mode: str,
    exit_code: int,
    counts: dict[str, int],
    api_calls: dict[str, int],
    psa_calls: int,
) -> None:
    """Add one finished run; call inside the transaction that records it."""
    totals = read(state)
    by_code = totals["runs"].setdefault(mode, {})
    by_code[str(exit_code)] = by_code.get(str(exit_code), 0) + 1
    for name in DEALS:
        totals["deals"][name] += int(counts.get(name) or 0)
    for endpoint, n in api_calls.items():
        totals["salesforce_calls"][endpoint] = totals["salesforce_calls"].get(endpoint, 0) + n
    totals["psa_calls"] += psa_calls
    if mode in LATENCY_MODES:
        for seconds in latencies(state, run_id):
            observe(totals["latency"], seconds)
    state.set_meta(KEY, json.dumps(totals, sort_keys=True))


def latencies(state: State, run_id: int) -> Iterator[float]:
    """Seconds from each created deal's stamp (as read: the change that won it) to its project, one
    event at a time (never the run's creates in one list)."""
    for at, detail in state.run_events(run_id, "create", "created"):
        stamp = (detail or {}).get("record_stamp")
        if stamp:
            yield max(0.0, (parse_iso(at) - parse_iso(stamp)).total_seconds())


def observe(histogram: dict[str, Any], seconds: float) -> None:
    histogram["buckets"][bisect_left(LATENCY_BUCKETS, seconds)] += (
        1  # le: a value on a bound counts in it
    )
    histogram["sum"] += seconds
    histogram["count"] += 1
