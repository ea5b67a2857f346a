"""Issue 20: group names are data, never a formula, console markup or mathtext.

A customer or an owner can be named anything: ``=HYPERLINK(…)`` in a CSV opened in a spreadsheet
runs; ``Widgets [/Europe]`` is a closing tag to rich (``MarkupError``); ``$\\foo$`` is mathtext to
matplotlib (``ValueError``). The last two ended ``psa-sync forecast`` with exit 70.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from PIL import Image

from sync.ops.forecast.chart import write_png
from sync.ops.forecast.render import table_text, to_csv

NAMES = [
    '=HYPERLINK("http://evil.example","x")',
    "+SUM(A1:A9)",
    "-2+3",
    "@cmd",
    "\tTab",
    "Widgets [/Europe]",
    "[bold red]Acme[/]",
    "$\\foo$",
    "Cost $5 and $6",
    "plain name",
]


def data(names: list[str], by: str = "customer") -> dict:
    groups = [
        {
            "group": n,
            "won": [10.0, 0.0],
            "pipeline": [5.0, 1.0],
            "total": [15.0, 1.0],
            "capacity": 12.0,
            "over_capacity": [True, False],
        }
        for n in names
    ]
    return {
        "version": 1,
        "unit": "hours",
        "as_of": "2026-12-01",
        "by": by,
        "months": ["2026-12", "2027-01"],
        "groups": groups,
        "totals": {k: [0.0, 0.0] for k in ("won", "pipeline", "total")},
        "deals": {"won": 1, "pipeline": 1},
        "notes": ["group [/Europe] note"],
    }


def test_csv_cells_that_would_start_a_formula_get_a_leading_quote():
    rows = list(csv.reader(io.StringIO(to_csv(data(NAMES, by="=by")), newline="")))
    assert rows[0][1] == "'=by"
    cells = {row[1] for row in rows[1:]}
    for name in NAMES:
        expected = "'" + name if name[0] in "=+-@\t\r" else name
        assert expected in cells, name
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


@pytest.mark.parametrize("terminal", [False, True])
def test_the_table_shows_every_name_as_written(terminal):
    text = table_text(data(NAMES[5:]), terminal=terminal)
    for name in ("Widgets [/Europe]", "[bold red]Acme[/]", "$\\foo$", "group [/Europe] note"):
        assert name in text


def test_the_chart_draws_names_with_dollars_and_backslashes(tmp_path):
    out = tmp_path / "forecast.png"
    write_png(data(["$\\foo$", "Cost $5 and $6"], by="$\\by$"), out)
    with Image.open(out) as image:
        assert image.size == (1200, 700)
        assert json.loads(image.info["Description"])["groups"][0]["group"] == "$\\foo$"
