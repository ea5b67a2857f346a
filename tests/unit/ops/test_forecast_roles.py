"""``forecast --by role``: each task's hours over its dates, per role, against the role's capacity.

The arithmetic is pure (``forecast_by_role`` over Deal and Task values); the book in
tests/fixtures/forecast_book.py adds the children rows a run writes, so the same numbers are checked
through the state file, the CLI and the PNG.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from PIL import Image

from sync.common.errors import ConfigError
from sync.config import load_settings
from sync.ops.forecast.book import read_role_book
from sync.ops.forecast.command import run_forecast
from sync.ops.forecast.compute import Deal
from sync.ops.forecast.config import ForecastConfig
from sync.ops.forecast.roles import Task, forecast_by_role
from tests.fixtures.forecast_book import ENV, EXPECTED_BY_ROLE, FORECAST, cli, groups_of, seed_book

JAN = date(2027, 1, 1)
CONFIG = ForecastConfig(capacity_by_role={"Consultant": Decimal(40)})


def won(
    record_id: str = "W", start: date | None = JAN, end: date | None = date(2027, 3, 31)
) -> Deal:
    return Deal(record_id=record_id, kind="won", fields={"start_date": start, "end_date": end})


def by_role(deals: list[Deal], tasks: list[Task], months: int = 3) -> dict:
    result = forecast_by_role(deals, tasks, CONFIG, JAN, months)
    return {role: (line.won, line.pipeline, line.over) for role, line in result.groups.items()}


def test_a_task_over_two_months_is_shared_by_its_days():
    task = Task("W", "Consultant", Decimal(59), JAN, date(2027, 2, 28))  # 31 + 28 days
    assert by_role([won()], [task]) == {
        "Consultant": ([31, 28, 0], [0, 0, 0], [False, False, False])
    }


def test_a_task_without_dates_takes_its_projects_start_and_end():
    task = Task("W", "Trainer", Decimal(90), None, None)
    hours, _, _ = by_role([won(start=date(2027, 2, 1), end=date(2027, 3, 31))], [task])["Trainer"]
    assert hours == [0, Decimal(90) * 28 / 59, Decimal(90) * 31 / 59]


def test_a_tentative_projects_task_counts_times_its_probability_and_marks_the_capacity():
    tentative = Deal(record_id="P", kind="pipeline", fields={}, probability=Decimal(25))
    task = Task("P", "Consultant", Decimal(400), date(2027, 2, 1), date(2027, 2, 28))
    assert by_role([tentative], [task]) == {
        "Consultant": ([0, 0, 0], [0, 100, 0], [False, True, False])
    }


def test_tasks_of_deals_that_do_not_count_and_deals_without_tasks_put_nothing():
    orphan = Task("closed-project", "Consultant", Decimal(500), JAN, JAN)
    open_deal = Deal(record_id="P2", kind="pipeline", fields={}, probability=Decimal(50))
    result = forecast_by_role([won(), open_deal], [orphan], CONFIG, JAN, 3)
    assert result.groups == {}
    assert any("1 open pipeline deal(s) without a project plan" in note for note in result.notes)


def test_the_book_by_role_leaves_flagged_intent_and_closed_projects_tasks_out(tmp_path):
    config = seed_book(tmp_path / "book")
    data = run_forecast(load_settings(config, ENV), None, "role", "2027-01")
    assert data["by"] == "role"
    assert groups_of(data) == EXPECTED_BY_ROLE
    assert data["deals"] == {"won": 1, "pipeline": 1}  # W1 and P1 have plans
    assert any("1 open pipeline deal(s) without a project plan" in n for n in data["notes"])  # P2
    assert any("2 won project(s) without tasks" in n for n in data["notes"])  # W2, W3
    _, tasks, _ = read_role_book(config.parent / "state.sqlite")
    assert {t.hours for t in tasks if t.record_id == "W1"} == {
        Decimal(59),
        Decimal(9),
        Decimal(150),
    }


def test_the_table_csv_and_png_draw_the_roles_with_their_capacity(tmp_path):
    config = seed_book(tmp_path / "book")
    table = cli(config, "--by", "role")
    assert table.returncode == 0, table.stderr
    assert "Consultant" in table.stdout and "350.0 ▲" in table.stdout and "capacity" in table.stdout
    csv = cli(config, "--by", "role", "--format", "csv")
    assert "2027-03,Consultant,150.0,200.0,350.0,300.0,yes" in csv.stdout.splitlines()
    png = tmp_path / "roles.png"
    drawn = cli(config, "--by", "role", "--format", "png", "--out", str(png))
    assert drawn.returncode == 0, drawn.stderr
    data = json.loads(cli(config, "--by", "role", "--format", "json").stdout)
    with Image.open(png) as image:
        assert image.size == (1200, 700)
        assert json.loads(image.info["Description"]) == data
        colours = {colour for _, colour in image.convert("RGB").getcolors(1200 * 700)}
    assert (0x44, 0x44, 0x44) in colours  # the dashed capacity line of the Consultant panel
    assert (0xC6, 0x28, 0x28) in colours  # March's red outline: over the Consultant's capacity


def test_a_bad_capacity_by_role_is_refused_at_its_line(tmp_path):
    config = seed_book(
        tmp_path / "b", FORECAST.replace("    Consultant: 300\n", "    Consultant: lots\n")
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, ENV)
    line = next(
        n for n, text in enumerate(config.read_text().splitlines(), 1) if "Consultant: lots" in text
    )
    assert (
        f"{config}:{line}: forecast.capacity_by_role.Consultant: 'lots' is not a number"
        in caught.value.problems
    )
