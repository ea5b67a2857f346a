"""The config's ``forecast:`` section (README "Forecast"): rates, capacity, and which mapped fields
carry the amount, the dates and the hours. Validated with the rest of the config, every problem at
its line; what can only be checked against the book (a group with no rate, a field the mapping does
not make) is checked by ``psa-sync forecast``, which names the same file, line and key.

```yaml
forecast:
  months: 6                                  # the horizon when --months is not given
  by: billing_type                           # the grouping when --by is not given
  fields: {amount: budget, start: start_date, end: end_date, hours: null}   # mapped project fields
  rate_by: billing_type                      # the mapped field whose value picks the rate
  rates: {Fixed Fee: 150, Time & Materials: 120}   # blended rate per hour, per value of rate_by
  default_rate: 140                          # optional: for a value rates does not list
  capacity_hours_per_month: {Fixed Fee: 900, Time & Materials: 600}   # optional, per group of `by`
  capacity_by_role: {Consultant: 320, Trainer: 160}   # optional, per task role (`--by role`)
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sync.common.problems import kind_of
from sync.common.yamldoc import KeyPath

KEYS = {
    "months",
    "by",
    "fields",
    "rate_by",
    "rates",
    "default_rate",
    "capacity_hours_per_month",
    "capacity_by_role",
}
FIELD_ROLES = ("amount", "start", "end", "hours")
DEFAULT_FIELDS = {"amount": "budget", "start": "start_date", "end": "end_date", "hours": None}


@dataclass(frozen=True)
class ForecastConfig:
    """The validated section; ``where`` maps a dotted key to ``file:line`` for later messages."""

    months: int = 6
    by: str = "billing_type"
    fields: dict[str, str | None] = field(default_factory=lambda: dict(DEFAULT_FIELDS))
    rate_by: str = "billing_type"
    rates: dict[str, Decimal] = field(default_factory=dict)
    default_rate: Decimal | None = None
    capacity: dict[str, Decimal] = field(default_factory=dict)
    capacity_by_role: dict[str, Decimal] = field(
        default_factory=dict
    )  # hours a month per task role
    where: dict[str, str] = field(default_factory=dict)

    def at(self, key: str) -> str:
        """``psa-sync.yaml:41: forecast.rates`` — where a message about ``key`` points."""
        return f"{self.where.get(key) or self.where.get('forecast', 'the config')}: {key}"


def parse_forecast(r: Any, raw: dict) -> ForecastConfig | None:
    """Validate ``forecast`` with the config's Reader ``r``; None when the section is absent."""
    if "forecast" not in raw:
        return None
    at: KeyPath = ("forecast",)
    section = r.section(raw, at, KEYS, required=True)
    months = r.number(section, (*at, "months"), 6, int, minimum=1)
    if months is not None and months > 36:
        r.problem(
            (*at, "months"),
            f"{months} is more than 36 months; a forecast that far out is guesswork",
        )
    names = {
        "by": _name(r, section, "by", "billing_type"),
        "rate_by": _name(r, section, "rate_by", "billing_type"),
    }
    fields = _fields(r, section)
    rates = _amounts(r, section, "rates")
    default_rate = (
        _amount(r, section.get("default_rate"), (*at, "default_rate"))
        if "default_rate" in section
        else None
    )
    capacity = _amounts(r, section, "capacity_hours_per_month")
    capacity_by_role = _amounts(r, section, "capacity_by_role")
    doc, source = r.problems.doc, r.problems.source
    where = {"forecast": f"{source}:{doc.line(at)}"}
    for key in KEYS | {f"fields.{role}" for role in FIELD_ROLES}:
        path = (*at, *key.split("."))
        where[f"forecast.{key}"] = f"{source}:{doc.line(path)}"
    for group in rates:
        where[f"forecast.rates.{group}"] = f"{source}:{doc.line((*at, 'rates', group))}"
    return ForecastConfig(
        months=months or 6,
        fields=fields,
        rates=rates,
        default_rate=default_rate,
        capacity=capacity,
        capacity_by_role=capacity_by_role,
        where=where,
        **names,
    )


def _name(r: Any, section: dict, key: str, default: str) -> str:
    value = section.get(key, default)
    if not isinstance(value, str) or not value.strip():
        r.problem(
            ("forecast", key),
            f"must be a mapped project field such as billing_type, not {kind_of(value)}",
        )
        return default
    return value.strip()


def _fields(r: Any, section: dict) -> dict[str, str | None]:
    at = ("forecast", "fields")
    raw = r.section(section, at, set(FIELD_ROLES), required=False)
    out = dict(DEFAULT_FIELDS)
    for role in FIELD_ROLES:
        if role not in raw:
            continue
        value = raw[role]
        if value is not None and (not isinstance(value, str) or not value.strip()):
            r.problem(
                (*at, role),
                f"must be the name of a mapped project field (or null), not {kind_of(value)}",
            )
            continue
        out[role] = value.strip() if value else None
    if out["amount"] is None and out["hours"] is None:
        r.problem(
            at,
            "name at least one of amount and hours: hours come from the amount and a rate, or from "
            "a mapped hours field",
        )
    return out


def _amounts(r: Any, section: dict, key: str) -> dict[str, Decimal]:
    at = ("forecast", key)
    raw = section.get(key)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        r.problem(
            at, f"must be a mapping of group: number (e.g. Fixed Fee: 150), not {kind_of(raw)}"
        )
        return {}
    out = {}
    for group, value in raw.items():
        amount = _amount(r, value, (*at, str(group)))
        if amount is not None:
            out[str(group)] = amount
    return out


def _amount(r: Any, value: Any, where: KeyPath) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        r.problem(where, f"must be a number, not {kind_of(value)}")
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        r.problem(where, f"{value!r} is not a number")
        return None
    if not amount.is_finite() or amount <= 0:
        r.problem(where, f"{value!r} must be a number above 0")
        return None
    return amount
