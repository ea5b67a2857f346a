"""``forecast --by role`` after a real run: the plan a won deal's line items and template made in
Redmine is the forecast's by role, read back from the state file alone (issue 23)."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.structure import sold, use_example_structure

pytestmark = pytest.mark.integration


def test_the_plan_of_a_won_deal_is_forecast_by_role_month_by_month(
    harness, tmp_path, emulator, redmine
):
    structured = use_example_structure(
        harness, tmp_path, forecast={"capacity_by_role": {"Consultant": 20}}
    )
    deal, _, _ = sold(emulator)
    structured.run()
    assert len(redmine.projects()) == 1
    emulator.reset_calls()
    result = structured.cli(
        "forecast", "--by", "role", "--from", "2026-03", "--months", "7", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    assert emulator.calls_snapshot() == {}  # the state file only: not even a token
    data = json.loads(result.stdout)
    roles = {g["group"]: g for g in data["groups"]}
    consultant = roles["Consultant"]
    # March: requirements 16 h (03-04 → 03-16) + the consulting line's 80 h over 03-02 → 09-30
    # (213 days) times 30/213 = 27.3;
    # September: user acceptance tests 8 h (09-16 → 09-25) + 80 × 30/213 = 19.3
    assert consultant["won"][0] == 27.3 and consultant["won"][6] == 19.3
    assert round(sum(consultant["won"])) == 16 + 80 + 8
    assert consultant["capacity"] == 20.0 and consultant["over_capacity"][0] is True
    assert round(sum(roles["Trainer"]["won"])) == 14  # 2 training days × 7 h
    assert data["deals"] == {"won": 1, "pipeline": 0}
