"""The ``source:`` section of a mapping (README.md, "The mapping language"): which Salesforce
records are read, and from when.

``object`` names the sObject, ``criteria`` the records of it that become projects (a SOQL
condition, :mod:`sync.mapping.conditions`), ``start_date`` where the first run starts reading, and
``lookback`` how far each run reads back behind its watermark for records committed late.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from sync.common.problems import Problems, section, unknown_keys
from sync.common.yamldoc import KeyPath
from sync.mapping.conditions import parse_condition_at
from sync.mapping.model import Source
from sync.mapping.names import API_NAME

KEYS = ("object", "criteria", "start_date", "lookback")
_DURATION = re.compile(r"(\d+)([smhd])\Z")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_source(value: Any, problems: Problems, written: set[str]) -> Source | None:
    """The validated section, or None when it is missing or unusable (its problems added).
    ``written``: the Salesforce fields psa-sync writes, lower case; the criteria may not read
    them."""
    raw = section(value, ("source",), problems, required=True)
    unknown_keys(raw, ("source",), KEYS, problems)
    obj = raw.get("object")
    if not isinstance(obj, str) or not API_NAME.match(obj):
        problems.add(
            ("source", "object"),
            "missing: name the Salesforce object, e.g. Opportunity"
            if obj is None
            else f"{obj!r} is not an object API name such as Opportunity",
        )
    text = raw.get("criteria")
    criteria = None
    if text is not None:
        where = ("source", "criteria")
        criteria = parse_condition_at(text, where, written, problems, '"IsWon = true"')
    start = _start_date(raw, problems)
    lookback = _duration(raw.get("lookback", "10m"), ("source", "lookback"), problems)
    if not raw or start is None or lookback is None or not isinstance(obj, str):
        return None
    return Source(
        object=obj,
        criteria=criteria,
        criteria_text=text if isinstance(text, str) else None,
        start_date=start,
        lookback=lookback,
    )


def _start_date(raw: dict, problems: Problems) -> date | None:
    value = raw.get("start_date")
    where = ("source", "start_date")
    if value is None:
        problems.add(
            where, "missing: the first run starts reading there, e.g. start_date: 2026-01-01"
        )
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    elif isinstance(value, date) and not isinstance(value, datetime):
        return value
    problems.add(where, f"{value!r} is not a date such as 2026-01-01")
    return None


def _duration(value: Any, where: KeyPath, problems: Problems) -> timedelta | None:
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        problems.add(
            where, f"{value!r} is not a duration such as 10m, 2h or 1d (<number><s|m|h|d>)"
        )
        return None
    try:
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        problems.add(where, f"{value!r} is too long a duration")
        return None
