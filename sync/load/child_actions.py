"""What a deal's pass does to its project's plan: decided, then done.

:func:`child_actions` decides, purely, which children are still to make and which amendments the
line-item rules allow once the first plan is complete: the run carries them out
(:mod:`sync.load.children`), ``plan`` shows them. :class:`ChildReport` counts what the run did.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sync.common.structure import Child, ChildSource, Structure
from sync.connectors.psa.structure import ChildRef
from sync.mapping.structure_rules import LineItemRules
from sync.state import children as rows
from sync.state.children import ChildRow

STAGE = "structure"


@dataclass
class ChildReport:
    created: int = 0
    found: int = 0
    flagged: int = 0
    estimates: int = 0
    problems: dict[str, list[str]] = field(default_factory=dict)  # record → what went wrong


@dataclass(frozen=True)
class ChildActions:
    """What a deal's pass does to its project's plan (pure: ``plan`` shows, ``apply`` does it)."""

    create: tuple[Child, ...] = ()
    flag: tuple[ChildRow, ...] = ()  # tasks whose line item left the deal (``on_removed: flag``)
    estimates: tuple[
        tuple[ChildRow, Child], ...
    ] = ()  # a changed quantity (``on_quantity_change: follow``)

    def __bool__(self) -> bool:
        return bool(self.create or self.flag or self.estimates)


def child_actions(
    structure: Structure,
    existing: dict[str, ChildRow],
    plan_state: str,
    rules: LineItemRules | None,
) -> ChildActions:
    """The children still to make (a first plan, an open intent, a new line item later) and, once
    the first plan is complete, the amendments the line-item rules allow."""
    create = tuple(c for c in structure.children if _wanted(c, existing, plan_state))
    if plan_state != "complete" or rules is None:
        return ChildActions(create)
    desired = {c.key: c for c in structure.tasks if c.line_item is not None}
    sold = [
        r
        for r in existing.values()
        if r.line_item and r.child_id is not None and r.status == rows.LINKED
    ]
    flag = tuple(r for r in sold if r.key not in desired) if rules.on_removed == "flag" else ()
    moved = (
        tuple(
            (r, desired[r.key])
            for r in sold
            if r.key in desired
            and desired[r.key].hours is not None
            and desired[r.key].hours != r.hours
        )
        if rules.on_quantity_change == "follow"
        else ()
    )
    return ChildActions(create, flag, moved)


def _wanted(child: Child, existing: dict[str, ChildRow], plan_state: str) -> bool:
    """Still to make: never linked (a first plan, or a new line item later), or an open intent."""
    row = existing.get(child.key)
    if row is not None:
        return row.child_id is None
    return plan_state != "complete" or f"/{ChildSource.LINE_ITEM.value}:" in child.key


def child_ref(row: ChildRow) -> ChildRef:
    """The connector's reference of a child the state holds (id 0: an intent not answered yet)."""
    return ChildRef(row.child_id or 0, row.key, row.kind, row.project_id, "", "open")
