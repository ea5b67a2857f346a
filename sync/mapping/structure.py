"""The ``structure:`` section of a mapping (README.md, "Project structure"): validated, every
problem with file, line and key, into :class:`~sync.mapping.structure_rules.StructureRules`.

The section routes a deal to a template (the first whose ``when`` on the deal and
``any_line_item`` on its line items both hold), turns its line items into tasks (``line_items``)
and names the Salesforce fields the progress of those tasks is written into (``backsync``). The
templates are files beside the mapping (:mod:`sync.mapping.templates`); their problems name the
template file and line. What can only be known per deal (a product with no hours rule, a date
before the start) is a record error of the transform (:mod:`sync.transform.structure`).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sync.common.yamldoc import KeyPath, Problems, kind_of, unknown_keys
from sync.extract import soql
from sync.mapping.fields import FIELD_PATH, _template, parse_rule
from sync.mapping.model import FieldRule
from sync.mapping.structure_checks import check_across
from sync.mapping.structure_rules import (
    END,
    ON_QUANTITY_CHANGE,
    ON_REMOVED,
    PROGRESS_TYPES,
    REMOVED_NOTE,
    SERVICE_DATE,
    START,
    DateSyntaxError,
    LineItemRules,
    Product,
    Route,
    StructureRules,
    Template,
    parse_relative_date,
)
from sync.mapping.templates import load_template

KEYS = ("dates", "templates", "line_items", "backsync")
DATE_KEYS = ("start", "end")
ROUTE_KEYS = ("file", "when", "any_line_item")
LINE_ITEM_KEYS = (
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
S = "structure"


def parse_structure(
    raw: Any,
    mapping_path: Path,
    fields: dict[str, FieldRule],
    written: set[str],
    problems: Problems,
) -> StructureRules | None:
    """The validated section, or None when there is none (or it has problems). ``fields``: the
    project fields (the start and end dates are two of them); ``written``: the Salesforce fields
    psa-sync writes, lower case, which no condition here may read."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.add((S,), f"must be a mapping with keys {', '.join(KEYS)}, not {kind_of(raw)}")
        return None
    before = len(problems.items)
    unknown_keys(raw, (S,), KEYS, problems)
    start_field, end_field = _dates(raw.get("dates"), problems)
    routes = _routes(raw.get("templates"), mapping_path, written, problems)
    line_items = _line_items(raw.get("line_items"), written, problems)
    backsync = _backsync(raw.get("backsync"), problems)
    if not routes and line_items is None and len(problems.items) == before:
        problems.add(
            (S,), "makes nothing: give `templates` or `line_items` (or remove the section)"
        )
    rules = StructureRules(
        start_field=start_field,
        end_field=end_field,
        routes=tuple(routes),
        line_items=line_items,
        backsync=backsync,
    )
    if (
        len(problems.items) > before
    ):  # the checks across parts would only repeat what is broken in one
        return None
    check_across(rules, fields, problems)
    return rules if len(problems.items) == before else None


def _mapping(value: Any, path: KeyPath, problems: Problems) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(path, f"must be a mapping, not {kind_of(value)}")
        return {}
    return value


def _dates(raw: Any, problems: Problems) -> tuple[str, str]:
    data = _mapping(raw, (S, "dates"), problems)
    unknown_keys(data, (S, "dates"), DATE_KEYS, problems)
    names = []
    for key, default in (("start", "start_date"), ("end", "end_date")):
        value = data.get(key, default)
        if not isinstance(value, str):
            problems.add(
                (S, "dates", key), f"must name a project field (type date), not {kind_of(value)}"
            )
            value = default
        names.append(value)
    return names[0], names[1]


def _condition(
    text: Any, where: KeyPath, written: set[str], problems: Problems
) -> soql.Condition | None:
    if not isinstance(text, str):
        problems.add(
            where,
            f"must be a SOQL condition in quotes, such as \"Type = 'New Customer'\", not {text!r}",
        )
        return None
    try:
        condition = soql.parse_condition(text)
    except soql.SoqlSyntaxError as exc:
        problems.add(where, f"{exc.message} at character {exc.position + 1} of {text[:100]!r}")
        return None
    for name in sorted(condition.fields(), key=str.lower):
        if name.lower() in written:
            problems.add(
                where,
                f"reads {name}, a field psa-sync writes; conditions may not read psa-sync's fields",
            )
    return condition


def _routes(raw: Any, mapping_path: Path, written: set[str], problems: Problems) -> list[Route]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add(
            (S, "templates"), f"must be a list of {{file, when, any_line_item}}, not {kind_of(raw)}"
        )
        return []
    loaded: dict[str, Template | None] = {}
    routes = []
    for index, entry in enumerate(raw):
        where = (S, "templates", index)
        if isinstance(entry, str):
            entry = {"file": entry}
        if not isinstance(entry, dict):
            problems.add(
                where, f"must be a mapping with keys {', '.join(ROUTE_KEYS)}, not {kind_of(entry)}"
            )
            continue
        unknown_keys(entry, where, ROUTE_KEYS, problems)
        route = _route(entry, where, mapping_path, written, loaded, problems)
        if route is not None:
            routes.append(route)
    return routes


def _route(
    entry: dict,
    where: KeyPath,
    mapping_path: Path,
    written: set[str],
    loaded: dict[str, Template | None],
    problems: Problems,
) -> Route | None:
    ref = entry.get("file")
    if not isinstance(ref, str) or not ref.strip():
        problems.add(
            (*where, "file"),
            "missing: the template's file, relative to the mapping, such as "
            "templates/implementation.yaml"
            if ref is None
            else f"must be a file path, not {kind_of(ref)}",
        )
        return None
    if ref not in loaded:  # two routes to one template read it once (and report its problems once)
        loaded[ref] = load_template(mapping_path, ref, (*where, "file"), problems)
    when = (
        _condition(entry["when"], (*where, "when"), written, problems) if "when" in entry else None
    )
    any_line = (
        _condition(entry["any_line_item"], (*where, "any_line_item"), set(), problems)
        if "any_line_item" in entry
        else None
    )
    if loaded[ref] is None:
        return None
    return Route(
        template=loaded[ref],
        when=when,
        when_text=entry.get("when"),
        any_line_item=any_line,
        any_line_item_text=entry.get("any_line_item"),
        line=problems.doc.line(where),
    )


def _line_items(raw: Any, written: set[str], problems: Problems) -> LineItemRules | None:
    if raw is None:
        return None
    where = (S, "line_items")
    data = _mapping(raw, where, problems)
    unknown_keys(data, where, LINE_ITEM_KEYS, problems)
    services = (
        _condition(data["services"], (*where, "services"), set(), problems)
        if "services" in data
        else None
    )
    hours_from = data.get("hours_from")
    if hours_from is not None and (
        not isinstance(hours_from, str) or not FIELD_PATH.match(hours_from)
    ):
        problems.add(
            (*where, "hours_from"),
            f"{hours_from!r} is not a field of OpportunityLineItem such as Hours__c",
        )
        hours_from = None
    name_parts = _template(data["name"], (*where, "name"), problems)[1] if "name" in data else ()
    rules = LineItemRules(
        services=services,
        services_text=data.get("services"),
        hours_from=hours_from,
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
    where = (S, "line_items", "products")
    data = _mapping(raw, where, problems)
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
    where = (S, "line_items", "rates")
    data = _mapping(raw, where, problems)
    out = {}
    for role, value in data.items():
        rate = _number(
            value, (*where, str(role)), "a rate per hour (more than 0)", problems, positive=True
        )
        if rate is not None:
            out[str(role)] = rate
    return out


def _backsync(raw: Any, problems: Problems) -> dict[str, FieldRule]:
    where = (S, "backsync")
    data = _mapping(raw, where, problems)
    out = {}
    for name, rule_raw in data.items():
        path = (*where, str(name))
        if (
            not isinstance(name, str)
            or not name.lower().endswith("__c")
            or not FIELD_PATH.match(name)
            or "." in name
        ):
            problems.add(
                path, f"{name!r}: psa-sync writes only custom fields of the deal (ending in __c)"
            )
            continue
        rule = parse_rule(rule_raw, path, problems, backsync=True, delivery=PROGRESS_TYPES)
        if rule is not None:
            out[name] = rule
    return out
