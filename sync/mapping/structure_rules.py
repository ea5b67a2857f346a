"""The typed, frozen form of a mapping's ``structure:`` section, and its date language.

:mod:`sync.mapping.structure` validates the YAML (the section and the template files beside the
mapping) and builds these; :mod:`sync.transform.structure` turns one deal into a
:class:`sync.common.structure.Structure` with them. Nothing here reads a file.

The date language (README.md, "Project structure") says when a phase is due or a task starts or
ends, relative to the deal: ``start``, ``end``, ``start + 14d``, ``end - 2w``; line items may also
count from their own ``service_date``; ``or`` gives a fallback for an empty base
(``service_date or end``). Days are calendar days: a PSA plans in them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sync.extract import soql

START, END, SERVICE_DATE = "start", "end", "service_date"
BASES = (START, END, SERVICE_DATE)
_TERM = re.compile(r"\s*(start|end|service_date)\s*(?:([+-])\s*(\d{1,4})\s*([dw]))?\s*\Z")
_UNIT_DAYS = {"d": 1, "w": 7}


#: The note a task gets when its line item is removed from the deal (``line_items.removed_note``).
REMOVED_NOTE = (
    "This line item was removed from the deal in Salesforce; "
    "the task is kept (psa-sync never deletes)."
)
ON_REMOVED = ("flag", "ignore")
ON_QUANTITY_CHANGE = ("follow", "keep")


class DateSyntaxError(ValueError):
    """A relative date that is not one: the message says what is expected."""


@dataclass(frozen=True)
class Term:
    """One base (``start``, ``end``, ``service_date``) and a signed offset in days."""

    base: str
    days: int = 0

    def text(self) -> str:
        if not self.days:
            return self.base
        return f"{self.base} {'+' if self.days > 0 else '-'} {abs(self.days)}d"


@dataclass(frozen=True)
class RelativeDate:
    """A date relative to the deal: the first term whose base has a value wins (``a or b``)."""

    terms: tuple[Term, ...]

    def bases(self) -> set[str]:
        return {term.base for term in self.terms}

    def text(self) -> str:
        return " or ".join(term.text() for term in self.terms)

    def resolve(self, values: dict[str, date | None]) -> date | None:
        """The date, or None when every base is empty; ``values`` holds start, end, service_date."""
        for term in self.terms:
            base = values.get(term.base)
            if base is not None:
                return base + timedelta(days=term.days)
        return None


def parse_relative_date(text: object, bases: tuple[str, ...] = (START, END)) -> RelativeDate:
    """``"start + 14d"`` → RelativeDate; raises DateSyntaxError naming what is expected."""
    expected = (
        f"a date relative to the deal such as `start`, `start + 14d`, `end - 2w`"
        f"{' or `service_date or end`' if SERVICE_DATE in bases else ''} "
        f"(bases: {', '.join(bases)}; units: d, w)"
    )
    if not isinstance(text, str) or not text.strip():
        raise DateSyntaxError(f"{text!r} is not {expected}")
    terms = []
    for part in re.split(r"\s+or\s+", text.strip()):
        match = _TERM.match(part)
        if match is None:
            raise DateSyntaxError(f"{text!r} is not {expected}")
        base, sign, number, unit = match.groups()
        if base not in bases:
            raise DateSyntaxError(f"{text!r}: '{base}' is not a base here; use {', '.join(bases)}")
        days = int(number) * _UNIT_DAYS[unit] if number else 0
        terms.append(Term(base, -days if sign == "-" else days))
    return RelativeDate(tuple(terms))


@dataclass(frozen=True)
class TemplateItem:
    """A phase (``phase`` None, a due date) or a task of a template (its phase's id, hours,
    role)."""

    id: str
    name: str
    line: int
    phase: str | None = None
    hours: Decimal | None = None
    role: str | None = None
    start: RelativeDate | None = None
    due: RelativeDate | None = None


@dataclass(frozen=True)
class Template:
    """One template file: its phases, its tasks, and the phase line-item tasks go under."""

    name: str
    path: str  # as the mapping wrote it, relative to the mapping's folder
    phases: tuple[TemplateItem, ...]
    tasks: tuple[TemplateItem, ...]
    line_item_phase: str | None = None


@dataclass(frozen=True)
class Route:
    """``when`` (on the deal) and ``any_line_item`` (on its line items) both hold → ``template``."""

    template: Template
    when: soql.Condition | None = None
    when_text: str | None = None
    any_line_item: soql.Condition | None = None
    any_line_item_text: str | None = None
    line: int = 0


@dataclass(frozen=True)
class Product:
    """A row of the product table, keyed by ProductCode: hours per unit sold, and the role."""

    code: str
    hours_per_unit: Decimal | None = None
    role: str | None = None


@dataclass(frozen=True)
class LineItemRules:
    """How a deal's ``OpportunityLineItem`` rows become tasks (README.md, "Project structure").

    Hours of one line item, the first rule that gives a value: ``hours_from`` (a field of the line
    item), Quantity × the product's ``hours_per_unit``, TotalPrice ÷ the ``rates`` of its role.
    Amendments after the project is made (carried out by load): ``on_removed`` with
    ``removed_note``, ``on_quantity_change``.
    """

    services: soql.Condition | None = None
    services_text: str | None = None
    hours_from: str | None = None
    products: dict[str, Product] = field(default_factory=dict)
    rates: dict[str, Decimal] = field(default_factory=dict)
    default_role: str | None = None
    phase: str | None = None
    name_parts: tuple[tuple[str, str | None, str | None], ...] = ()
    start: RelativeDate | None = None
    due: RelativeDate | None = None
    # a line item gone from a linked deal: flag its task (never delete) | ignore
    on_removed: str = "flag"
    removed_note: str = REMOVED_NOTE
    # the estimate follows while no time is logged on the task | keep
    on_quantity_change: str = "follow"


#: The progress values ``structure.backsync`` may write into Salesforce, and their type.
PROGRESS_TYPES = {
    "tasks_done": "integer",
    "tasks_total": "integer",
    "hours_logged": "decimal",
    "hours_estimated": "decimal",
    "current_phase": "string",
}


@dataclass(frozen=True)
class StructureRules:
    """The whole ``structure:`` section: which project fields are the deal's start and end, the
    templates in routing order (the first that matches applies), the line-item rules (None: line
    items make no task), and the progress back-sync (Salesforce field → a rule over
    :data:`PROGRESS_TYPES`)."""

    start_field: str
    end_field: str
    routes: tuple[Route, ...] = ()
    line_items: LineItemRules | None = None
    # Salesforce field → FieldRule (source: a progress value)
    backsync: dict = field(default_factory=dict)

    def roles(self) -> set[str]:
        """Every role a child of this structure can carry (``check`` verifies them in the PSA)."""
        roles = {task.role for route in self.routes for task in route.template.tasks if task.role}
        if self.line_items is not None:
            roles |= {p.role for p in self.line_items.products.values() if p.role}
            roles |= set(self.line_items.rates)
            if self.line_items.default_role:
                roles.add(self.line_items.default_role)
        return roles

    def templates(self) -> tuple[Template, ...]:
        return tuple(route.template for route in self.routes)

    def deal_fields(self) -> list[str]:
        """The deal's fields the routing reads (they join the run's SELECT list)."""
        names: set[str] = set()
        for route in self.routes:
            if route.when is not None:
                names |= route.when.fields()
        return sorted(names, key=str.lower)

    def line_item_fields(self) -> list[str]:
        """The ``OpportunityLineItem`` fields the structure reads: the subquery's SELECT list."""
        names = [
            "Id",
            "Quantity",
            "UnitPrice",
            "TotalPrice",
            "ServiceDate",
            "Description",
            "SortOrder",
            "ProductCode",
            "Product2.Name",
            "Product2.ProductCode",
            "Product2.Family",
        ]
        rules = self.line_items
        conditions = [
            route.any_line_item for route in self.routes if route.any_line_item is not None
        ]
        if rules is not None:
            conditions += [rules.services] if rules.services is not None else []
            names += [rules.hours_from] if rules.hours_from else []
            names += [name for _, name, _ in rules.name_parts if name]
        for condition in conditions:
            names += sorted(condition.fields(), key=str.lower)
        seen: set[str] = set()
        return [n for n in names if not (n.lower() in seen or seen.add(n.lower()))]
