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

from pathlib import Path
from typing import Any

from sync.common.problems import Problems, kind_of, section, unknown_keys
from sync.common.yamldoc import KeyPath
from sync.mapping.conditions import parse_condition_at
from sync.mapping.fields import parse_rule
from sync.mapping.model import FieldRule
from sync.mapping.names import FIELD_PATH
from sync.mapping.structure_checks import check_across
from sync.mapping.structure_line_items import LINE_ITEM_EXAMPLE, parse_line_items
from sync.mapping.structure_rules import PROGRESS_TYPES, Route, StructureRules, Template
from sync.mapping.templates import load_template

KEYS = ("dates", "templates", "line_items", "backsync")
DATE_KEYS = ("start", "end")
ROUTE_KEYS = ("file", "when", "any_line_item")
S = "structure"
#: what a condition on the deal looks like, for the message when ``when`` is not one
DEAL_EXAMPLE = "\"Type = 'New Customer'\""


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
    line_items = parse_line_items(raw.get("line_items"), problems)
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
    # the checks across parts would only repeat what is broken in one
    if len(problems.items) > before:
        return None
    check_across(rules, fields, problems)
    return rules if len(problems.items) == before else None


def _dates(raw: Any, problems: Problems) -> tuple[str, str]:
    data = section(raw, (S, "dates"), problems)
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
    when = any_line = None
    if "when" in entry:
        when = parse_condition_at(entry["when"], (*where, "when"), written, problems, DEAL_EXAMPLE)
    if "any_line_item" in entry:  # it reads line items, which psa-sync never writes
        any_line = parse_condition_at(
            entry["any_line_item"], (*where, "any_line_item"), set(), problems, LINE_ITEM_EXAMPLE
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


def _backsync(raw: Any, problems: Problems) -> dict[str, FieldRule]:
    where = (S, "backsync")
    data = section(raw, where, problems)
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
