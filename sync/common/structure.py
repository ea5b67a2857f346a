"""What was sold, as the plan below a project: the types the structure's stages hand each other.

Pure and free of I/O, like :mod:`sync.common.model`. The mapping's ``structure:`` section (templates
routed by criteria, line-item rules) turns one deal — its fields and its ``OpportunityLineItem``
rows — into a :class:`Structure`: phases (milestones with a due date) and tasks (estimated hours,
a role, start and due dates, the phase they belong to). Load creates each :class:`Child` in the
PSA exactly once, by its key, under the same intent → create → link protocol as projects
(docs/architecture.md §5); after creation a child belongs to the PSA and is never overwritten.

A child's key is the deal's project key, ``/``, and the item it comes from: ``t:<template
item id>`` for a template's phase or task, ``li:<OpportunityLineItem Id>`` for a line item
(``child_key``). The key is what a connector stores on the child (Redmine: a custom field;
Tryton: the ``psa_sync_key`` module's field) and what finds it again after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

#: The child relationship a deal carries its ``OpportunityLineItem`` rows in (REST subquery
#: results).
LINE_ITEMS = "OpportunityLineItems"


class ChildKind(StrEnum):
    """A phase (Redmine: a version; Tryton: a child work of type project) or a task (Redmine: an
    issue; Tryton: a child work of type task)."""

    PHASE = "phase"
    TASK = "task"


class ChildSource(StrEnum):
    TEMPLATE = "t"
    LINE_ITEM = "li"


def child_key(project_key: str, source: ChildSource, item: str) -> str:
    """The stable key of one child: ``<project key>/t:<template item>`` or
    ``…/li:<line item Id>``."""
    return f"{project_key}/{source.value}:{item}"


@dataclass(frozen=True)
class Child:
    """One phase or task as the mapping wants it created.

    ``phase`` is the key of the phase a task belongs to (None: directly under the project).
    ``hours`` is the estimate (None: no estimate). ``line_item`` keeps the line item's own values
    (quantity, product code) so amendments can be compared with what was synced. ``description``:
    a task's text at creation (a line item's Description), None for none.
    """

    key: str
    kind: ChildKind
    name: str
    phase: str | None = None
    hours: Decimal | None = None
    role: str | None = None
    start: date | None = None
    due: date | None = None
    line_item: LineItemFacts | None = None
    description: str | None = None


@dataclass(frozen=True)
class LineItemFacts:
    """What a task remembers of the line item it came from (for amendments and ``explain``)."""

    line_item_id: str
    product_code: str | None
    product_name: str | None
    quantity: Decimal | None
    total_price: Decimal | None


@dataclass(frozen=True)
class Structure:
    """The plan below one project: which template applied, and its children in creation order
    (every phase before the tasks that name it)."""

    project_key: str
    template: str | None
    children: tuple[Child, ...]

    @property
    def phases(self) -> tuple[Child, ...]:
        return tuple(c for c in self.children if c.kind is ChildKind.PHASE)

    @property
    def tasks(self) -> tuple[Child, ...]:
        return tuple(c for c in self.children if c.kind is ChildKind.TASK)
