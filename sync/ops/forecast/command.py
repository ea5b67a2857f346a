"""``psa-sync forecast``: settings, mapping → the state file's book → a forecast, printed or drawn.

Reads only local files (config, mapping, state, read-only): no Salesforce or PSA call, no lock.
Names are checked before anything is computed: ``--by`` and every ``forecast.fields`` entry must
be a project field the mapping makes (``owner`` is the deal owner, ``member.<name>`` a member;
``role`` is the role of each task of the projects' plans, :mod:`sync.ops.forecast.roles`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from sync.common.clock import utcnow
from sync.common.errors import ConfigError
from sync.config import Settings
from sync.mapping import load_mapping
from sync.ops.forecast.book import read_book, read_role_book
from sync.ops.forecast.compute import forecast
from sync.ops.forecast.config import ForecastConfig
from sync.ops.forecast.render import forecast_data
from sync.ops.forecast.roles import ROLE, forecast_by_role


def config_of(settings: Settings) -> ForecastConfig:
    """The config's ``forecast`` section, or the defaults (which carry no rate)."""
    return settings.forecast or ForecastConfig(where={"forecast": f"{settings.path}:1"})


def first_month(text: str | None) -> date:
    """``--from 2027-01`` (a month), default: the current month (UTC)."""
    if text is None:
        return utcnow().date().replace(day=1)
    try:
        return date.fromisoformat(f"{text}-01" if len(text) == 7 else text).replace(day=1)
    except ValueError:
        raise ConfigError(f"--from: '{text}' is not a month such as 2027-01") from None


def run_forecast(
    settings: Settings, months: int | None, by: str | None, start: str | None
) -> dict[str, Any]:
    """The forecast's data (the JSON of ``--format json``)."""
    config = config_of(settings)
    months = months or config.months
    by = by or config.by
    _check_names(config, load_mapping(settings.mapping), by)
    first = first_month(start)
    if by == ROLE:
        deals, tasks, exists = read_role_book(settings.state)
        result = forecast_by_role(deals, tasks, config, first, months)
    else:
        deals, exists = read_book(settings.state)
        result = forecast(deals, config, first, months, by)
    data = forecast_data(result, as_of=utcnow().date().isoformat())
    if not exists:
        data["notes"].append(f"no state file at {settings.state} yet: run psa-sync first")
    return data


def _check_names(config: ForecastConfig, mapping: Any, by: str) -> None:
    known = set(mapping.rules())
    listed = ", ".join(sorted(known))
    problems = []
    if by not in ("owner", ROLE) and by not in known:
        problems.append(
            f"--by: '{by}' is not a project field of {mapping.path}; choose owner, role (the tasks "
            f"of the plans) or one of: {listed}"
        )
    for role, name in config.fields.items():
        if name and name not in known:
            problems.append(
                f"{config.at(f'forecast.fields.{role}')}: '{name}' is not a project field of "
                f"{mapping.path}; its fields: {listed}"
            )
    if config.rate_by != "owner" and config.rate_by not in known:
        problems.append(
            f"{config.at('forecast.rate_by')}: '{config.rate_by}' is not a project field of "
            f"{mapping.path}; its fields: {listed}"
        )
    if problems:
        raise ConfigError(problems)


#: matplotlib is the extra ``psa-sync[forecast]``: only the PNG needs it (a sync host goes without)
PNG_EXTRA = "pip install 'psa-sync[forecast]'"


def _chart_writer():
    """``chart.write_png``, imported (with matplotlib) only when a picture is asked for."""
    try:
        from sync.ops.forecast.chart import write_png
    except ImportError as exc:
        raise ConfigError(
            f"forecast --format png draws with matplotlib, which is not installed ({exc}); "
            f"install the forecast extra: {PNG_EXTRA} (or use --format table, csv or json)"
        ) from exc
    return write_png


def write_output(data: dict[str, Any], fmt: str, out: Path | None, terminal: bool) -> str | None:
    """Write ``out`` (png always; other formats when given); the text to print, if any."""
    if fmt == "png":
        write_png = _chart_writer()
        target = out or Path("forecast.png")
        write_png(data, target)
        return f"forecast written to {target} (1200x700 PNG)"
    if fmt == "json":
        import json

        text = json.dumps(data, indent=2)
    elif fmt == "csv":
        from sync.ops.forecast.render import to_csv

        text = to_csv(data)
    else:
        from sync.ops.forecast.render import table_text

        text = table_text(data, terminal=terminal and out is None)
    if out is None:
        return text
    out.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return f"forecast written to {out}"
