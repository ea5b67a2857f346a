"""psa-sync forecast over a seeded book (tests/fixtures/forecast_book.py).

Exact hours per month per group, a deal across months, a month over capacity; the table, the CSV
and the PNG show the JSON's numbers; bad input names the file, line and key. The CLI runs as a
user runs it, with no network at all.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from sync.common.errors import ConfigError
from sync.config import load_settings
from sync.ops.forecast.book import read_book
from sync.ops.forecast.command import run_forecast
from sync.ops.forecast.compute import Deal, spread
from sync.ops.forecast.render import table_text, to_csv
from sync.state import State
from tests.fixtures.forecast_book import ENV, EXPECTED, FORECAST, ROOT, cli, groups_of, seed_book


@pytest.fixture
def book(tmp_path) -> Path:
    return seed_book(tmp_path / "book")


def test_the_seeded_book_gives_the_exact_hours_per_month_per_group(book):
    data = run_forecast(load_settings(book, ENV), None, None, "2027-01")
    assert data["months"] == ["2027-01", "2027-02", "2027-03", "2027-04"]
    assert groups_of(data) == EXPECTED
    assert data["totals"]["total"] == [360.0, 480.0, 510.0, 20.0]
    assert data["deals"] == {
        "won": 3,
        "pipeline": 2,
    }  # the closed project and the dropped deal are left out


def test_a_won_project_delivery_closed_after_linking_is_no_upcoming_work(book):
    # W1 was linked active; back-sync has since read its project closed (a person finished it).
    state = State.open(book.parent / "state.sqlite")
    try:
        w1 = state.links(["W1"])["W1"]
        with state.transaction():
            state.save_link(w1.but(backsync={"status": "closed"}))
    finally:
        state.close()
    data = run_forecast(load_settings(book, ENV), None, None, "2027-01")
    assert data["deals"] == {"won": 2, "pipeline": 2}
    assert groups_of(data)["Fixed Fee"]["won"] == [
        50.0,
        0.0,
        0.0,
        0.0,
    ]  # W3 alone: W1's 310, 280, 310 are gone
    assert "W1" not in {deal.record_id for deal in read_book(book.parent / "state.sqlite")[0]}


def test_a_deal_across_months_is_shared_by_days():
    shares = spread(
        Decimal(900),
        date(2027, 1, 1),
        date(2027, 3, 31),
        [date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1), date(2027, 4, 1)],
    )
    assert shares == [Decimal(310), Decimal(280), Decimal(310), Decimal(0)]


def test_a_mapped_hours_field_wins_over_amount_and_rate(book):
    settings = load_settings(book, ENV)
    from dataclasses import replace

    from sync.ops.forecast.compute import hours_of

    config = replace(settings.forecast, fields={**settings.forecast.fields, "hours": "hours"})
    deal = Deal(
        "X", "won", {"hours": Decimal(42), "budget": Decimal(1000), "billing_type": "Fixed Fee"}
    )
    assert hours_of(deal, config) == Decimal(42)
    assert (
        hours_of(Deal("Y", "won", {"budget": Decimal(1000), "billing_type": "Fixed Fee"}), config)
        == 10
    )


def test_the_table_shows_the_json_numbers(book):
    data = run_forecast(load_settings(book, ENV), None, None, "2027-01")
    text = table_text(data)
    rows: dict[tuple[str, str], list[float]] = {}
    group = None
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if len(cells) != 2 + len(data["months"]) + 1 or cells[1] not in (
            "won",
            "pipeline",
            "total",
        ):
            continue
        group = cells[0] or group
        rows[(group, cells[1])] = [float(c.rstrip(" ▲").replace(",", "")) for c in cells[2:-1]]
    for name, expected in EXPECTED.items():
        for kind in ("won", "pipeline", "total"):
            assert rows[(name, kind)] == expected[kind]
    assert "510.0 ▲" in text  # March of Fixed Fee is over its 500 h capacity
    assert rows[("All groups", "total")] == data["totals"]["total"]


def test_csv_has_one_row_per_month_and_group(book):
    data = run_forecast(load_settings(book, ENV), None, None, "2027-01")
    lines = to_csv(data).splitlines()
    assert (
        lines[0]
        == "month,billing_type,won_hours,pipeline_hours,total_hours,capacity_hours,over_capacity"
    )
    assert "2027-03,Fixed Fee,310.0,200.0,510.0,500.0,yes" in lines
    assert len(lines) == 1 + 2 * 4


def test_the_png_is_a_1200x700_image_whose_data_equals_the_json_and_the_table(book, tmp_path):
    png = tmp_path / "forecast.png"
    drawn = cli(book, "--format", "png", "--out", str(png))
    assert drawn.returncode == 0, drawn.stderr
    as_json = cli(book, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (1200, 700)
        embedded = json.loads(image.info["Description"])
    assert embedded == data
    assert groups_of(data) == EXPECTED
    table = cli(book)
    assert table.returncode == 0 and "510.0 ▲" in table.stdout


def test_a_group_with_no_rate_names_the_file_line_and_key(tmp_path):
    config = seed_book(tmp_path / "b", FORECAST.replace("    Time & Materials: 150\n", ""))
    result = cli(config, "--format", "json")
    line = next(
        n for n, text in enumerate(config.read_text().splitlines(), 1) if text.strip() == "rates:"
    )
    assert result.returncode == 2
    assert (
        f"{config.name}:{line}: forecast.rates: "
        "no rate for billing_type 'Time & Materials' (2 deals)" in result.stderr
    ), result.stderr


@pytest.mark.parametrize(
    ("old", "new", "needle", "expected"),
    [
        (
            "    Fixed Fee: 100\n",
            "    Fixed Fee: -5\n",
            "Fixed Fee: -5",
            "forecast.rates.Fixed Fee: -5 must be a number above 0",
        ),
        (
            "  months: 4\n",
            "  months: many\n",
            "months: many",
            "forecast.months: 'many' is not a number",
        ),
        (
            "  fields: {amount: budget, start: start_date, end: end_date}\n",
            "  fields: {amount: null, hours: null}\n",
            "fields:",
            "forecast.fields: name at least one of amount and hours",
        ),
        (
            "  months: 4\n",
            "  months: 4\n  colour: red\n",
            "colour:",
            "forecast.colour: unknown key",
        ),
    ],
)
def test_a_bad_forecast_section_is_refused_at_its_line(tmp_path, old, new, needle, expected):
    config = seed_book(tmp_path / "b", FORECAST.replace(old, new))
    with pytest.raises(ConfigError) as caught:
        load_settings(config, ENV)
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if needle in text)
    assert any(p.startswith(f"{config}:{line}: {expected}") for p in caught.value.problems), (
        caught.value.problems
    )


def test_a_field_the_mapping_does_not_make_is_named_with_its_line(tmp_path):
    config = seed_book(tmp_path / "b", FORECAST.replace("amount: budget", "amount: budgett"))
    result = cli(config, "--by", "practice")
    assert result.returncode == 2
    assert "--by: 'practice' is not a project field of" in result.stderr
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if "budgett" in text)
    assert (
        f"{config.name}:{line}: forecast.fields.amount: 'budgett' is not a project field"
        in result.stderr
    )


def test_no_state_file_yet_is_an_empty_forecast_that_says_so(tmp_path):
    config = seed_book(tmp_path / "b")
    (config.parent / "state.sqlite").unlink()
    data = run_forecast(load_settings(config, ENV), 3, "owner", "2027-01")
    assert data["groups"] == [] and any("no state file" in n for n in data["notes"])
    assert not (config.parent / "state.sqlite").exists()  # read-only: the forecast never creates it


def test_by_owner_groups_pipeline_deals_by_their_owner_and_won_deals_by_the_owner_member(tmp_path):
    config = seed_book(tmp_path / "b")
    data = run_forecast(load_settings(config, ENV), None, "owner", "2027-01")
    totals = {g["group"]: g["total"] for g in data["groups"]}
    # the seeded won deals carry no member.owner: "(none)"; the pipeline rows carry the owner's Id
    assert totals == {
        "(none)": [360.0, 480.0, 310.0, 0.0],
        "005000000000001AAA": [0.0, 0.0, 200.0, 20.0],
    }


@pytest.mark.subprocess  # matplotlib blocked in a fresh interpreter
def test_a_png_without_matplotlib_exits_2_naming_the_extra_to_install(book, tmp_path):
    """matplotlib is the extra psa-sync[forecast].

    A host without it gets the table, and a clear word for the PNG.
    """
    blocked = (
        "import sys; sys.modules['matplotlib'] = None; sys.argv[0] = 'psa-sync'; "
        "from sync.cli import main; main()"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(book.parent), **ENV}
    png = tmp_path / "forecast.png"
    args = ["forecast", "--config", str(book), "--from", "2027-01"]
    drawn = subprocess.run(
        [sys.executable, "-c", blocked, *args, "--format", "png", "--out", str(png)],
        env=env,
        cwd=book.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert drawn.returncode == 2, drawn.stderr
    assert "pip install 'psa-sync[forecast]'" in drawn.stderr and "Traceback" not in drawn.stderr
    assert not png.exists()
    table = subprocess.run(
        [sys.executable, "-c", blocked, *args],
        env=env,
        cwd=book.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert table.returncode == 0, table.stderr
