"""What the daemon does after a cycle, by its exit code, and how failing cycles space out."""

from __future__ import annotations

import pytest

from sync.daemon.policy import Backoff, Verdict, verdict


@pytest.mark.parametrize("code,expected", [
    (0, Verdict.DONE), (1, Verdict.DONE), (75, Verdict.QUIET), (2, Verdict.STOP), (5, Verdict.STOP),
    (3, Verdict.BACKOFF), (4, Verdict.BACKOFF), (74, Verdict.BACKOFF), (76, Verdict.BACKOFF), (70, Verdict.BACKOFF),
])
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
