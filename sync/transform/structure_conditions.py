"""The structure's conditions over a whole page at once: which template each deal is routed to, and
which of its line items are services.

Evaluated like ``source.criteria`` (:func:`sync.transform.criteria.evaluate_criteria`): on columns,
once per condition and page, with SOQL's semantics, and through :mod:`sync.transform.coerce`, so a
deal read through Bulk CSV (``"true"``, ``"125000.50"``) routes as its REST JSON does. ``when`` is
evaluated on the deals, ``any_line_item`` and ``services`` on every line item of the page in one
frame. A value not comparable with a condition's literal is a problem for that deal, not a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sync.extract import soql
from sync.mapping.structure_rules import Route, StructureRules
from sync.transform.criteria import evaluate_criteria
from sync.transform.frame import RecordFrame
from sync.transform.line_items import StructureProblem, line_items_of


@dataclass(frozen=True)
class Decided:
    """One deal's line items (in their stable order), whether each is a service, and its route."""

    items: list[dict]
    services: list[bool]
    route: Route | None


def decide(records: list[Mapping[str, Any]], rules: StructureRules) -> list[Decided | str]:
    """Per record, in order: what its structure is made from, or the problem that stops it."""
    per_deal: list[list[dict] | str] = []
    reads_lines = rules.line_items is not None or any(
        route.any_line_item is not None for route in rules.routes
    )
    for record in records:
        try:
            per_deal.append(line_items_of(record, required=reads_lines))
        except StructureProblem as exc:
            per_deal.append(str(exc))
    items = [item for entry in per_deal if isinstance(entry, list) for item in entry]
    item_frame = RecordFrame(items)
    services = _evaluate(rules.line_items.services if rules.line_items else None, item_frame)
    any_item = [_evaluate(route.any_line_item, item_frame) for route in rules.routes]
    deals = RecordFrame(list(records))
    when = [_evaluate(route.when, deals) for route in rules.routes]
    out: list[Decided | str] = []
    start = 0
    for deal, entry in enumerate(per_deal):
        if isinstance(entry, str):
            out.append(entry)
            continue
        span = slice(start, start + len(entry))
        start += len(entry)
        out.append(_one(deal, entry, span, rules, when, any_item, services))
    return out


def _evaluate(
    condition: soql.Condition | None, frame: RecordFrame
) -> tuple[np.ndarray, np.ndarray]:
    if not len(frame):
        return np.zeros(0, dtype=bool), np.full(0, None, dtype=object)
    return evaluate_criteria(condition, frame)


def _one(
    deal: int,
    items: list[dict],
    span: slice,
    rules: StructureRules,
    when: list,
    any_item: list,
    services: tuple[np.ndarray, np.ndarray],
) -> Decided | str:
    service_hits, service_problems = services[0][span], services[1][span]
    for item, problem in zip(items, service_problems, strict=True):
        if problem is not None:
            return f"line item {item['Id']}: structure.line_items.services: {problem}"
    try:
        route = _route(deal, span, rules, when, any_item)
    except StructureProblem as exc:
        return str(exc)
    return Decided(items=items, services=[bool(hit) for hit in service_hits], route=route)


def _route(
    deal: int, span: slice, rules: StructureRules, when: list, any_item: list
) -> Route | None:
    """First route whose ``when`` holds on the deal and ``any_line_item`` on one of its lines."""
    for index, route in enumerate(rules.routes):
        where = f"structure.templates[{index}] ({route.template.path})"
        (deal_hits, deal_problems), (item_hits, item_problems) = when[index], any_item[index]
        if deal_problems[deal] is not None:
            raise StructureProblem(f"{where}: when: {deal_problems[deal]}")
        if not deal_hits[deal]:
            continue
        for problem in item_problems[span]:
            if problem is not None:
                raise StructureProblem(f"{where}: any_line_item: {problem}")
        if route.any_line_item is None or item_hits[span].any():
            return route
    return None
