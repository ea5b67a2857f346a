"""The checks of a ``structure:`` section across its parts (each part is valid on its own by then):
the phase line-item tasks go under exists in every template, a role priced by TotalPrice has a rate,
and the date fields relative dates count from are dates of the project."""

from __future__ import annotations

from sync.common.problems import Problems
from sync.mapping.model import FieldRule
from sync.mapping.structure_rules import END, START, StructureRules

S = "structure"


def check_across(rules: StructureRules, fields: dict[str, FieldRule], problems: Problems) -> None:
    _check_phases(rules, problems)
    _check_rates(rules, problems)
    _check_date_fields(rules, fields, problems)


def _check_phases(rules: StructureRules, problems: Problems) -> None:
    """``line_items.phase`` must be a phase of every template that does not name its own."""
    wanted = rules.line_items.phase if rules.line_items is not None else None
    if wanted is None:
        return
    if not rules.routes:
        problems.add(
            (S, "line_items", "phase"),
            f"{wanted!r} names a phase, but there are no templates to have it",
        )
    for route in rules.routes:
        template = route.template
        if template.line_item_phase is None and wanted not in {p.id for p in template.phases}:
            problems.add(
                (S, "line_items", "phase"),
                f"{wanted!r} is not a phase of {template.path} (its phases: "
                f"{', '.join(p.id for p in template.phases) or '(none)'}); add it there, or set "
                "line_item_phase in that template",
            )


def _check_rates(rules: StructureRules, problems: Problems) -> None:
    """A rate for a role nothing uses is a typo waiting to quarantine every deal."""
    if rules.line_items is None:
        return
    items = rules.line_items
    used: set[str] = {p.role for p in items.products.values() if p.role}
    used |= {items.default_role} if items.default_role else set()
    used |= {task.role for template in rules.templates() for task in template.tasks if task.role}
    for role in items.rates:
        if role not in used:
            problems.add(
                (S, "line_items", "rates", role),
                f"a rate for role {role!r}, which no product, template task "
                f"or default_role has; roles used: {', '.join(sorted(used)) or '(none)'}",
            )


def _check_date_fields(
    rules: StructureRules, fields: dict[str, FieldRule], problems: Problems
) -> None:
    """The bases ``start`` and ``end`` count from project fields of type date."""
    used: set[str] = set()
    dates = [
        d
        for t in rules.templates()
        for item in (*t.phases, *t.tasks)
        for d in (item.start, item.due)
        if d
    ]
    if rules.line_items is not None:
        dates += [d for d in (rules.line_items.start, rules.line_items.due) if d]
    for relative in dates:
        used |= relative.bases()
    for base, name in ((START, rules.start_field), (END, rules.end_field)):
        rule = fields.get(name)
        if base in used and (rule is None or rule.type != "date"):
            problems.add(
                (S, "dates", base),
                f"relative dates count from `{base}`, the project field {name!r}, "
                f"which is {'not a project field' if rule is None else f'of type {rule.type}'}; "
                "name a project field of type date under structure.dates",
            )
