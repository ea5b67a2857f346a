"""What the daemon does after a cycle, by its exit code, and how failing cycles space out."""

from __future__ import annotations

import pytest

from sync.daemon import jobs
from sync.daemon.policy import Backoff, Verdict, verdict


@pytest.mark.parametrize(
    "code,expected",
    [
        (0, Verdict.DONE),
        (1, Verdict.DONE),
        (75, Verdict.QUIET),
        (2, Verdict.STOP),
        (5, Verdict.STOP),
        (3, Verdict.BACKOFF),
        (4, Verdict.BACKOFF),
        (74, Verdict.BACKOFF),
        (76, Verdict.BACKOFF),
        (70, Verdict.BACKOFF),
        (71, Verdict.BACKOFF),
    ],
)
def test_each_exit_code_has_its_verdict(code, expected):
    assert verdict(code) is expected


def test_failing_cycles_double_the_pause_up_to_the_cap_and_one_success_resets_it():
    backoff = Backoff(interval=30, cap=600)
    assert [backoff.failed(now=0) for _ in range(7)] == [60, 120, 240, 480, 600, 600, 600]
    assert backoff.waiting(now=500) and not backoff.waiting(now=600)
    assert backoff.succeeded() is True and backoff.failures == 0 and not backoff.waiting(now=0)
    assert backoff.succeeded() is False


def test_a_tick_a_little_early_still_runs():
    backoff = Backoff(interval=1, cap=8)
    backoff.failed(now=10)  # pause of 2 s: until 12
    assert backoff.waiting(now=11.5) and not backoff.waiting(now=11.9)


class Ticks:
    """A daemon as ``jobs.sync_cycle`` sees it, on a clock the test moves: one tick a second."""

    def __init__(self, codes: list[int]):
        self.now = 0.0
        self.codes = codes  # the exit code of each cycle that runs, in turn
        self.ran_at: list[float] = []
        self.backoff = Backoff(interval=1, cap=8)
        self.settings = self.environ = self.event_path = None
        self.stopping = False

    def clock(self) -> float:
        return self.now

    def kept(self) -> dict:
        return {}

    def poll_due(self, now: float) -> bool:  # no event stream: every tick polls
        return True

    def run_once(self, settings, environ=None):
        self.ran_at.append(self.now)
        return type("Result", (), {"exit_code": self.codes.pop(0) if self.codes else 0})()


def test_failing_cycles_run_at_2_4_8_8_seconds_apart_and_the_first_that_works_returns_to_every_tick(
    monkeypatch,
):
    daemon = Ticks([3, 3, 3, 3, 3, 0])
    monkeypatch.setattr(jobs.stages, "run_once", daemon.run_once)
    for tick in range(40):
        daemon.now = float(tick)
        jobs.sync_cycle(daemon)
    failing, recovered = daemon.ran_at[:5], daemon.ran_at[5:]
    assert [b - a for a, b in zip(failing, failing[1:], strict=False)] == [2, 4, 8, 8]
    assert recovered[0] - failing[-1] == 8  # the cap
    assert {b - a for a, b in zip(recovered, recovered[1:], strict=False)} == {
        1
    }  # back to every tick
    assert daemon.backoff.failures == 0
