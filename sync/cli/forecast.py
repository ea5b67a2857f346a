"""``psa-sync forecast``: upcoming delivery hours per month, from the state file alone (README
"Forecast")."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sync.cli.support import Context, echo, guarded


@click.command()
@click.option(
    "--months",
    type=click.IntRange(1, 36),
    default=None,
    help="How many months, from --from on [default: forecast.months, else 6].",
)
@click.option(
    "--by",
    default=None,
    metavar="FIELD",
    help="Group by billing_type, owner, role (the tasks of the projects' plans) or any mapped "
    "project field [default: forecast.by].",
)
@click.option(
    "--from",
    "start",
    default=None,
    metavar="YYYY-MM",
    help="The first month [default: this month].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "png"]),
    default="table",
    show_default=True,
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (png: default forecast.png).",
)
@click.pass_obj
@guarded
def forecast(
    obj: Context, months: int | None, by: str | None, start: str | None, fmt: str, out: Path | None
) -> None:
    """Upcoming delivery work per month: won deals whose projects are active, spread over their
    dates, plus open pipeline deals weighted by probability. Reads only the state file: no API call.

    \b
    Examples:
        psa-sync forecast --months 6 --by billing_type
        psa-sync forecast --by role --format png --out roles.png
        psa-sync forecast --format json | jq '.groups[] | {group, total}'
    """
    from sync.ops.forecast.command import run_forecast, write_output

    data = run_forecast(obj.settings(), months, by, start)
    text = write_output(data, fmt, out, terminal=sys.stdout.isatty())
    if text:
        echo(text.rstrip("\n"))
