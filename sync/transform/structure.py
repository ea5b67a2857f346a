"""What was sold, as the plan below one project: a deal and its line items → a :class:`Structure`.

Pure. ``plan_page`` calls :func:`page_structures` for the rows the transform made (a caller with one
deal, :func:`structure_of`): the first template whose ``when`` (on the deal) and ``any_line_item``
hold gives the phases and tasks; each service line item gives one more task
(:mod:`sync.transform.line_items`); the conditions are evaluated once per page, on columns
(:mod:`sync.transform.structure_conditions`). Dates count from
the deal's start and end as the mapping made them (``structure.dates``), never from raw fields.

A deal whose plan cannot be made (a product with no hours rule, a negative quantity, a date before
the project's start, a relative date with no start or end to count from) is a :class:`RowError`:
the deal is quarantined with every reason, each naming the template item or line item, and nothing
of it is created. The structure never enters the project's payload or its hash: children are made
once, then they belong to the PSA (docs/architecture.md §14).
"""

from __future__ import annotations

from collections.abc import Mapping as MappingType
from datetime import date
from typing import Any

from sync.common.model import DesiredRow, RowError
from sync.common.structure import Child, ChildKind, ChildSource, LineItemFacts, Structure, child_key
from sync.mapping.model import Mapping
from sync.mapping.structure_rules import END, START, StructureRules, Template
from sync.transform.frame import _clean
from sync.transform.line_items import (
    StructureProblem,
    dates_of,
    decimal_of,
    hours_of,
    product_code,
    quantity_checked,
    resolve,
    role_of,
    task_name,
    value,
)
from sync.transform.structure_conditions import Decided, decide

FIELD = "(structure)"  # the RowError's field: the problem is the deal's plan, not one project field


def structure_of(
    row: DesiredRow, record: MappingType[str, Any], mapping: Mapping
) -> Structure | RowError | None:
    """The deal's structure, a RowError saying why not, or None without ``structure:``."""
    if mapping.structure is None:
        return None
    return structures_of([row], [record], mapping.structure)[0]


def structures_of(
    rows: list[DesiredRow], records: list[MappingType[str, Any]], rules: StructureRules
) -> list[Structure | RowError]:
    """Each row's structure (its record at the same index), the conditions evaluated once a page."""
    out: list[Structure | RowError] = []
    for row, record, decided in zip(rows, records, decide(records, rules), strict=True):
        try:
            if isinstance(decided, str):
                raise StructureProblem(decided)
            out.append(build(row.key, row.fields, decided, rules))
        except StructureProblem as exc:
            out.append(
                RowError(
                    record_id=row.record_id,
                    key=row.key,
                    modstamp=row.modstamp,
                    deleted=row.deleted,
                    matches=row.matches,
                    pipeline=row.pipeline,
                    field=FIELD,
                    reason=f"structure: {exc}",
                    payload=_clean(dict(record)),
                )
            )
    return out


def build(
    project_key: str, fields: dict[str, Any], decided: Decided, rules: StructureRules
) -> Structure:
    """Raises StructureProblem with every reason found (joined by ``; ``)."""
    deal = {START: _date(fields.get(rules.start_field)), END: _date(fields.get(rules.end_field))}
    route = decided.route
    problems: list[str] = []
    children = _template_children(project_key, route.template, deal, problems) if route else []
    if rules.line_items is not None:
        phase = _line_item_phase(route.template if route else None, rules)
        services = [
            item for item, service in zip(decided.items, decided.services, strict=True) if service
        ]
        children += _line_item_children(project_key, services, rules, phase, deal, problems)
    _check_dates(children, deal[START], problems)
    if problems:
        raise StructureProblem("; ".join(problems))
    return Structure(
        project_key=project_key,
        template=route.template.name if route else None,
        children=tuple(children),
    )


def _date(raw: Any) -> date | None:
    return raw if isinstance(raw, date) else None


def _template_children(
    project_key: str, template: Template, deal: dict, problems: list[str]
) -> list[Child]:
    children = []
    for phase in template.phases:
        due = _resolve(phase.due, deal, f"{template.path} phase {phase.id!r}: due", problems)
        children.append(
            Child(
                key=child_key(project_key, ChildSource.TEMPLATE, phase.id),
                kind=ChildKind.PHASE,
                name=phase.name,
                due=due,
            )
        )
    for task in template.tasks:
        what = f"{template.path} task {task.id!r}"
        children.append(
            Child(
                key=child_key(project_key, ChildSource.TEMPLATE, task.id),
                kind=ChildKind.TASK,
                name=task.name,
                phase=child_key(project_key, ChildSource.TEMPLATE, task.phase)
                if task.phase
                else None,
                hours=task.hours,
                role=task.role,
                start=_resolve(task.start, deal, f"{what}: start", problems),
                due=_resolve(task.due, deal, f"{what}: due", problems),
            )
        )
    return children


def _resolve(relative, deal: dict, what: str, problems: list[str]) -> date | None:
    try:
        return resolve(relative, deal, what)
    except StructureProblem as exc:
        problems.append(str(exc))
        return None


def _line_item_phase(template: Template | None, rules: StructureRules) -> str | None:
    if template is None:
        return None
    return template.line_item_phase or (rules.line_items.phase if rules.line_items else None)


def _line_item_children(
    project_key: str,
    items: list[dict],
    rules: StructureRules,
    phase: str | None,
    deal: dict,
    problems: list[str],
) -> list[Child]:
    children = []
    phase_key = child_key(project_key, ChildSource.TEMPLATE, phase) if phase else None
    for item in items:
        try:
            child = _line_item_child(project_key, item, rules, phase_key, deal)
        except StructureProblem as exc:
            problems.append(str(exc))
            continue
        if child is not None:
            children.append(child)
    return children


def _line_item_child(
    project_key: str, item: dict, rules: StructureRules, phase_key: str | None, deal: dict
) -> Child | None:
    line = rules.line_items
    quantity = quantity_checked(item)
    role = role_of(item, line)
    start, due = dates_of(item, line, deal)
    facts = LineItemFacts(
        line_item_id=item["Id"],
        product_code=product_code(item),
        product_name=value(item, "Product2.Name"),
        quantity=quantity,
        total_price=decimal_of(value(item, "TotalPrice"), f"line item {item['Id']}: TotalPrice"),
    )
    description = value(item, "Description")
    return Child(
        key=child_key(project_key, ChildSource.LINE_ITEM, item["Id"]),
        kind=ChildKind.TASK,
        name=task_name(item, line),
        phase=phase_key,
        hours=hours_of(item, line, role),
        role=role,
        start=start,
        due=due,
        line_item=facts,
        description=description if isinstance(description, str) and description else None,
    )


def _check_dates(children: list[Child], start: date | None, problems: list[str]) -> None:
    """Nothing is due (or starts) before the project starts, and no task ends before it starts."""
    for child in children:
        for label, day in (("starts", child.start), ("is due", child.due)):
            if start is not None and day is not None and day < start:
                problems.append(
                    f"{_what(child)} {label} {day.isoformat()}, before the project's start "
                    f"{start.isoformat()}"
                )
        if child.start is not None and child.due is not None and child.due < child.start:
            problems.append(
                f"{_what(child)} is due {child.due.isoformat()}, before it starts "
                f"{child.start.isoformat()}"
            )


def _what(child: Child) -> str:
    item = child.key.rsplit("/", 1)[-1]
    if item.startswith(f"{ChildSource.LINE_ITEM.value}:"):
        return f"line item {item.split(':', 1)[1]}"
    return f"{child.kind.value} {item.split(':', 1)[1]!r}"


def structure_roles(rules: StructureRules | None) -> set[str]:
    """Every role a child can carry (``check`` verifies each against the PSA's roles)."""
    return rules.roles() if rules is not None else set()


def page_structures(
    rows: list[DesiredRow], records: list[dict], mapping: Mapping, tentative: bool = False
) -> tuple[list[DesiredRow], list[RowError], dict[str, Structure]]:
    """One page: the rows whose structure could be made (or that need none), the RowErrors of the
    rest, and by record Id the structure of each deal due a project (won or tentative).

    A lost or deleted deal needs no plan, so its line items are never held against it."""
    if mapping.structure is None:
        return rows, [], {}
    by_id = {record.get("Id"): record for record in records}
    wanted = [row for row in rows if row.wanted(tentative)]
    results = structures_of(
        wanted, [by_id.get(row.record_id, {}) for row in wanted], mapping.structure
    )
    errors = [result for result in results if isinstance(result, RowError)]
    structures = {
        row.record_id: result
        for row, result in zip(wanted, results, strict=True)
        if isinstance(result, Structure)
    }
    failed = {error.record_id for error in errors}
    return [row for row in rows if row.record_id not in failed], errors, structures
