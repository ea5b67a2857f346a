"""A forecast as data (JSON), CSV, or a rich table: the same numbers, rounded to a tenth of an hour.

``forecast_data`` is the one rounding point: the table, the CSV and the chart are drawn from it, so
``--format json`` is exactly what the others show.

Group names are data (a customer, an owner's e-mail, any mapped value), so none is read as markup: a
CSV cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
``'`` (OWASP, "CSV Injection": a spreadsheet would run it as a formula), and the table hands rich
each name as ``Text``, never as console markup (``Widgets [/Europe]`` was a ``MarkupError``,
exit 70).
"""

from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sync.ops.forecast.compute import Forecast

TENTH = Decimal("0.1")
VERSION = 1


def hours(value: Decimal) -> float:
    return float(value.quantize(TENTH, rounding=ROUND_HALF_UP))


def forecast_data(result: Forecast, as_of: str) -> dict[str, Any]:
    """The versioned JSON document of ``--format json``."""
    groups = []
    for name in sorted(result.groups, key=lambda g: (-sum(result.groups[g].total), g)):
        line = result.groups[name]
        groups.append(
            {
                "group": name,
                "won": [hours(v) for v in line.won],
                "pipeline": [hours(v) for v in line.pipeline],
                "total": [hours(v) for v in line.total],
                "capacity": hours(line.capacity) if line.capacity is not None else None,
                "over_capacity": line.over,
            }
        )
    count = len(result.months)
    totals = {
        kind: [round(sum(g[kind][i] for g in groups), 1) for i in range(count)]
        for kind in ("won", "pipeline", "total")
    }
    return {
        "version": VERSION,
        "unit": "hours",
        "as_of": as_of,
        "by": result.by,
        "months": [m.strftime("%Y-%m") for m in result.months],
        "groups": groups,
        "totals": totals,
        "deals": {"won": result.counts["won"], "pipeline": result.counts["pipeline"]},
        "notes": result.notes,
    }


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(cell: str) -> str:
    """A text cell a spreadsheet shows as text: a leading ``'`` where it would start a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def to_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "month",
            inert(data["by"]),
            "won_hours",
            "pipeline_hours",
            "total_hours",
            "capacity_hours",
            "over_capacity",
        ]
    )
    for group in data["groups"]:
        for i, month in enumerate(data["months"]):
            writer.writerow(
                [
                    month,
                    inert(group["group"]),
                    group["won"][i],
                    group["pipeline"][i],
                    group["total"][i],
                    "" if group["capacity"] is None else group["capacity"],
                    "yes" if group["over_capacity"][i] else "",
                ]
            )
    return out.getvalue()


def _cell(value: float, over: bool = False) -> Text:
    text = f"{value:,.1f}" + (" ▲" if over else "")
    return Text(text, style="bold red" if over else ("dim" if value == 0 else ""))


def table(data: dict[str, Any]) -> Table:
    """Rows per group: won, weighted pipeline, total (▲ over capacity), capacity.

    Then won, pipeline and total of all groups together.
    """
    by = data["by"].replace("_", " ")
    title = f"Delivery forecast: hours per month by {by} (as of {data['as_of']})"
    grid = Table(
        title=Text(title),
        caption="won = booked projects; pipeline = open deals x probability; ▲ = over capacity",
        show_lines=False,
    )
    grid.add_column(Text(by.capitalize()), no_wrap=True)
    grid.add_column("", no_wrap=True)
    for month in data["months"]:
        grid.add_column(month, justify="right", no_wrap=True)
    grid.add_column("Total", justify="right", no_wrap=True)
    for group in data["groups"]:
        name = Text(group["group"])
        for kind, label in (("won", "won"), ("pipeline", "pipeline"), ("total", "total")):
            over = group["over_capacity"] if kind == "total" else [False] * len(data["months"])
            cells = [_cell(v, o) for v, o in zip(group[kind], over, strict=True)]
            grid.add_row(
                name if kind == "won" else Text(""),
                label,
                *cells,
                _cell(round(sum(group[kind]), 1)),
                style="bold" if kind == "total" else None,
            )
        if group["capacity"] is not None:
            grid.add_row(
                "",
                "capacity",
                *[_cell(group["capacity"]) for _ in data["months"]],
                "",
                style="italic",
            )
        grid.add_section()
    for kind in ("won", "pipeline", "total"):
        grid.add_row(
            "All groups" if kind == "won" else "",
            kind,
            *[_cell(v) for v in data["totals"][kind]],
            _cell(round(sum(data["totals"][kind]), 1)),
            style="bold" if kind == "total" else None,
        )
    return grid


def table_text(data: dict[str, Any], terminal: bool | None = None) -> str:
    """The table as text: as wide as it needs (a pipe or a file gets every column unwrapped)."""
    width = 28 + 12 * (len(data["months"]) + 1)
    console = Console(
        width=width,
        record=True,
        file=io.StringIO(),
        force_terminal=terminal,
        color_system="standard" if terminal else None,
    )
    console.print(table(data))
    for note in data["notes"]:
        console.print(Text(f"note: {note}"))
    return console.export_text(styles=bool(terminal))
