"""The Closed Won → project latency histogram is folded from one run's create events, read one at a
time (a first run's creates are no longer decoded into one list: docs/benchmarks.md, issue 22)."""

from __future__ import annotations

from datetime import timedelta

from sync.common.clock import iso, utcnow
from sync.ops.metrics import totals
from sync.state import State, store


def test_a_runs_created_deals_with_a_stamp_alone_count_in_the_latency(tmp_path, monkeypatch):
    now = utcnow()
    monkeypatch.setattr(store, "utcnow", lambda: now)  # the events' time
    state = State.open(tmp_path / "state.sqlite")
    run_id, other = state.start_run("run"), state.start_run("run")
    won = iso(now - timedelta(seconds=90))
    with state.transaction():
        state.add_events(
            run_id,
            [
                ("006A", "create", "created", {"record_stamp": won}),
                ("006B", "create", "created", {"record_stamp": won}),
                ("006C", "create", "created", {"tentative": True}),  # no Closed Won
                ("006D", "create", "failed", {"record_stamp": won}),
            ],
        )
        state.add_events(other, [("006E", "create", "created", {"record_stamp": won})])
        totals.add_run(state, run_id, "run", 0, {"created": 3}, {"queryAll": 1}, 1)
    latency = totals.read(state)["latency"]
    assert latency["count"] == 2
    assert latency["sum"] == 2 * 90
    assert sum(latency["buckets"]) == 2
