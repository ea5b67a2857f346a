"""The ``line_items`` part of a mapping's ``structure:`` section (README.md, "Project structure"):
which of a deal's ``OpportunityLineItem`` rows become tasks, their name, hours, role, phase and
dates, and what load does when a linked deal's line items change.

Validated into :class:`~sync.mapping.structure_rules.LineItemRules`, every problem with file, line
and key; the hours of one line item are computed per deal by the transform
(:mod:`sync.transform.line_items`).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sync.common.problems import Problems, kind_of, section, unknown_keys
from sync.common.yamldoc import KeyPath
from sync.mapping.conditions import parse_condition_at
from sync.mapping.names import FIELD_PATH
from sync.mapping.structure_rules import (
    END,
    ON_QUANTITY_CHANGE,
    ON_REMOVED,
    REMOVED_NOTE,
    SERVICE_DATE,
    START,
    DateSyntaxError,
    LineItemRules,
    Product,
    parse_relative_date,
)
from sync.mapping.text_template import parse_text_template

KEYS = (
    "services",
    "name",
    "hours_from",
    "products",
    "rates",
    "default_role",
    "phase",
    "start",
    "due",
    "on_removed",
    "removed_note",
    "on_quantity_change",
)
PRODUCT_KEYS = ("hours_per_unit", "role")
WHERE = ("structure", "line_items")
#: what a condition on one line item looks like, for the message when it is not one
LINE_ITEM_EXAMPLE = "\"Product2.Family = 'Services'\""


def parse_line_items(raw: Any, problems: Problems) -> LineItemRules | None:
    """The validated ``line_items`` part, or None when there is none. A problem is added, and
    the part built as far as it can be, so the section reports every problem at once."""
    if raw is None:
        return None
    where = WHERE
    data = section(raw, where, problems)
    unknown_keys(data, where, KEYS, problems)
    services = None
    if "services" in data:  # it reads line items, which psa-sync never writes
        services = parse_condition_at(
            data["services"], (*where, "services"), set(), problems, LINE_ITEM_EXAMPLE
        )
    name_parts = (
        parse_text_template(data["name"], (*where, "name"), problems)[1] if "name" in data else ()
    )
    rules = LineItemRules(
        services=services,
        services_text=data.get("services"),
        hours_from=_hours_from(data.get("hours_from"), problems),
        products=_products(data.get("products"), problems),
        rates=_rates(data.get("rates"), problems),
        default_role=_role(data.get("default_role"), (*where, "default_role"), problems),
        phase=_role(data.get("phase"), (*where, "phase"), problems),
        name_parts=name_parts,
        start=_date(data, "start", where, problems),
        due=_date(data, "due", where, problems),
        **_amendments(data, where, problems),
    )
    if (
        not rules.hours_from
        and not rules.rates
        and not any(p.hours_per_unit is not None for p in rules.products.values())
    ):
        problems.add(
            where,
            "no hours rule: give hours_from (a line-item field), products with hours_per_unit, "
            "or rates per role (TotalPrice ÷ rate)",
        )
    return rules


def _hours_from(value: Any, problems: Problems) -> str | None:
    """The line-item field that holds a line item's hours (the first hours rule), if named."""
    if value is not None and (not isinstance(value, str) or not FIELD_PATH.match(value)):
        problems.add(
            (*WHERE, "hours_from"),
            f"{value!r} is not a field of OpportunityLineItem such as Hours__c",
        )
        return None
    return value


def _amendments(data: dict, where: KeyPath, problems: Problems) -> dict[str, str]:
    """What load does when a linked deal's line items change (README.md, "Project structure")."""
    out = {}
    for key, allowed in (("on_removed", ON_REMOVED), ("on_quantity_change", ON_QUANTITY_CHANGE)):
        value = data.get(key, allowed[0])
        if value not in allowed or not isinstance(value, str):
            problems.add((*where, key), f"{value!r} is not one of: {', '.join(allowed)}")
        out[key] = value if value in allowed else allowed[0]
    note = data.get("removed_note", REMOVED_NOTE)
    if not isinstance(note, str) or not note.strip():
        problems.add(
            (*where, "removed_note"), f"must be the text put on the task, not {kind_of(note)}"
        )
    else:
        out["removed_note"] = note.strip()
    return out


def _date(data: dict, key: str, where: KeyPath, problems: Problems):
    if key not in data:
        return None
    try:
        return parse_relative_date(data[key], (START, END, SERVICE_DATE))
    except DateSyntaxError as exc:
        problems.add((*where, key), str(exc))
        return None


def _role(value: Any, where: KeyPath, problems: Problems) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add(where, f"must be text, not {kind_of(value)}")
        return None
    return value.strip()


def _number(
    value: Any, where: KeyPath, what: str, problems: Problems, positive: bool = False
) -> Decimal | None:
    try:
        number = (
            Decimal(str(value))
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else None
        )
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number < 0 or (positive and number == 0):
        problems.add(where, f"{value!r} is not {what}")
        return None
    return number


def _products(raw: Any, problems: Problems) -> dict[str, Product]:
    where = (*WHERE, "products")
    data = section(raw, where, problems)
    out = {}
    for code, entry in data.items():
        here = (*where, str(code))
        if not isinstance(entry, dict):
            problems.add(here, f"must be {{hours_per_unit: N, role: R}}, not {kind_of(entry)}")
            continue
        unknown_keys(entry, here, PRODUCT_KEYS, problems)
        hours = (
            _number(
                entry["hours_per_unit"],
                (*here, "hours_per_unit"),
                "a number of hours per unit (0 or more)",
                problems,
            )
            if "hours_per_unit" in entry
            else None
        )
        out[str(code)] = Product(
            code=str(code),
            hours_per_unit=hours,
            role=_role(entry.get("role"), (*here, "role"), problems),
        )
    return out


def _rates(raw: Any, problems: Problems) -> dict[str, Decimal]:
    where = (*WHERE, "rates")
    data = section(raw, where, problems)
    out = {}
    for role, value in data.items():
        rate = _number(
            value, (*where, str(role)), "a rate per hour (more than 0)", problems, positive=True
        )
        if rate is not None:
            out[str(role)] = rate
    return out
