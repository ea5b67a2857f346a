"""Deals → delivery hours per month per group (pure: no I/O, no clock; README "Forecast").

A deal's hours are its mapped hours field when the config names one and the deal has a value, else
its amount divided by the blended rate of its ``rate_by`` group. They are spread evenly over the
days from its start to its end date (both included), so a deal from 1 January to 31 March puts 31,
28 and 31 ninetieths in each month. Won deals count whole; open pipeline deals count their hours
times their probability. Months before the first forecast month are left out: what is past is
delivered (or late), not upcoming. A deal with no start date starts in the first month; one with no
end date ends the day it starts.
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sync.common.errors import ConfigError
from sync.ops.forecast.config import ForecastConfig

KINDS = ("won", "pipeline")
NONE = "(none)"
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Deal:
    """One deal as the forecast sees it: ``fields`` are its mapped values (the state's payload)."""

    record_id: str
    kind: str  # "won" | "pipeline"
    fields: dict[str, Any]
    probability: Decimal = HUNDRED  # percent; won deals 100
    owner: str | None = None
    amount: Decimal | None = None  # the pipeline row's own amount, when the mapping makes none
    close_date: date | None = None  # a pipeline deal's start when the mapping makes none


@dataclass
class Line:
    """One group's hours per month (one value per forecast month), and its capacity if set."""

    won: list[Decimal]
    pipeline: list[Decimal]
    capacity: Decimal | None = None

    @property
    def total(self) -> list[Decimal]:
        return [w + p for w, p in zip(self.won, self.pipeline, strict=True)]

    @property
    def over(self) -> list[bool]:
        return [self.capacity is not None and t > self.capacity for t in self.total]


@dataclass
class Forecast:
    months: list[date]  # the first day of each month
    by: str
    groups: dict[str, Line]
    counts: Counter = field(default_factory=Counter)  # won, pipeline, no_amount, no_dates
    notes: list[str] = field(default_factory=list)


def month_starts(first: date, count: int) -> list[date]:
    out, current = [], first.replace(day=1)
    for _ in range(count):
        out.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return out


def forecast(
    deals: list[Deal], config: ForecastConfig, first: date, months: int, by: str
) -> Forecast:
    """Spread every deal's (weighted) hours over its months.

    Raises:
        ConfigError: a group with no rate (naming the config's file, line and key).
    """
    starts = month_starts(first, months)
    result = Forecast(months=starts, by=by, groups={})
    _check_rates(deals, config)
    for deal in deals:
        hours = hours_of(deal, config)
        if hours is None:
            result.counts["no_amount"] += 1
            continue
        result.counts[deal.kind] += 1
        start, end = _dates(deal, config, starts[0], result)
        line = result.groups.setdefault(group_of(deal, by), _empty(len(starts)))
        weighted = hours * deal.probability / HUNDRED
        target = line.won if deal.kind == "won" else line.pipeline
        for index, share in enumerate(spread(weighted, start, end, starts)):
            target[index] += share
    for group, line in result.groups.items():
        line.capacity = config.capacity.get(group)
    if result.counts["no_amount"]:
        result.notes.append(
            f"{result.counts['no_amount']} deal(s) with neither an amount nor hours were left out"
        )
    return result


def hours_of(deal: Deal, config: ForecastConfig) -> Decimal | None:
    """Hours of the whole deal (before its probability): the hours field, else amount / rate."""
    hours = _mapped_hours(deal, config)
    if hours is not None:
        return hours
    amount = _amount(deal, config)
    return None if amount is None else amount / rate_of(deal, config)


def _mapped_hours(deal: Deal, config: ForecastConfig) -> Decimal | None:
    hours_field = config.fields.get("hours")
    return number_of(deal.fields.get(hours_field)) if hours_field else None


def _amount(deal: Deal, config: ForecastConfig) -> Decimal | None:
    """The mapped amount field's value, else the pipeline row's own amount."""
    amount_field = config.fields.get("amount")
    amount = number_of(deal.fields.get(amount_field)) if amount_field else None
    return amount if amount is not None else deal.amount


def rate_of(deal: Deal, config: ForecastConfig) -> Decimal:
    group = group_of(deal, config.rate_by)
    rate = config.rates.get(group, config.default_rate)
    if rate is None:
        raise ConfigError(
            f"{config.at('forecast.rates')}: no rate for {config.rate_by} '{group}'; add "
            f"`{group}: <rate per hour>` under forecast.rates, or set forecast.default_rate"
        )
    return rate


def group_of(deal: Deal, by: str) -> str:
    """The deal's group: the mapped field's value.

    ``owner`` is the deal owner (member.owner, or its Id).
    """
    value = deal.fields.get(by)
    if by == "owner" and value is None:
        value = deal.fields.get("member.owner") or deal.owner
    return NONE if value in (None, "") else str(value)


def spread(hours: Decimal, start: date, end: date, months: list[date]) -> list[Decimal]:
    """``hours`` shared by days over [start, end]; the share of each forecast month."""
    days = Decimal((end - start).days + 1)
    out = []
    for month in months:
        last = month.replace(day=calendar.monthrange(month.year, month.month)[1])
        overlap = (min(end, last) - max(start, month)).days + 1
        out.append(hours * overlap / days if overlap > 0 else Decimal(0))
    return out


def _check_rates(deals: list[Deal], config: ForecastConfig) -> None:
    """Every group that needs a rate has one.

    One message lists all that lack one, before any arithmetic.
    """
    if config.default_rate is not None:
        return
    missing = Counter(
        group_of(d, config.rate_by)
        for d in deals
        if _needs_rate(d, config) and group_of(d, config.rate_by) not in config.rates
    )
    if missing:
        listed = ", ".join(
            f"'{g}' ({n} deal{'s' if n > 1 else ''}{' with no value' if g == NONE else ''})"
            for g, n in sorted(missing.items())
        )
        raise ConfigError(
            f"{config.at('forecast.rates')}: no rate for {config.rate_by} {listed}; add each as "
            "`<value>: <rate per hour>` under forecast.rates, or set forecast.default_rate"
        )


def _needs_rate(deal: Deal, config: ForecastConfig) -> bool:
    return _mapped_hours(deal, config) is None and _amount(deal, config) is not None


def _dates(deal: Deal, config: ForecastConfig, first: date, result: Forecast) -> tuple[date, date]:
    start = day_of(deal.fields.get(config.fields.get("start") or "")) or deal.close_date
    end = day_of(deal.fields.get(config.fields.get("end") or ""))
    if start is None:
        result.counts["no_dates"] += 1
        start = first
    end = end if end is not None and end >= start else start
    return start, end


def _empty(count: int) -> Line:
    return Line(won=[Decimal(0)] * count, pipeline=[Decimal(0)] * count)


def number_of(value: Any) -> Decimal | None:
    """A finite Decimal from a stored value (text or number), or None: never an exception."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


def day_of(value: Any) -> date | None:
    """The day of a stored date, date and time, or ISO text, or None when it holds none."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None
