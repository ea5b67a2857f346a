"""How far a project's plan has come, as the deal's ``structure.backsync`` fields say it (pure).

Read from the PSA's children (``StructureConnector.children``) with the state's children rows,
which know each task's phase: tasks done of all tasks, hours logged of hours estimated (tasks only;
a phase's totals would count them twice), and the current phase — the first, by due date, that is
not closed and still has a task open. Every value is the PSA's: a task a person closed counts as
done, an estimate a person changed counts as it is now, a task a person deleted counts no more.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sync.common.structure import ChildKind
from sync.connectors.psa.structure import ChildProgress
from sync.state.children import ChildRow

_LAST = date.max


def plan_progress(read: list[ChildProgress], rows: dict[str, ChildRow]) -> dict[str, Any]:
    """The progress values (``PROGRESS_TYPES``) of one project from its children as read now."""
    tasks = [c for c in read if c.ref.kind is ChildKind.TASK]
    phases = sorted(
        (c for c in read if c.ref.kind is ChildKind.PHASE), key=lambda c: (c.due or _LAST, c.name)
    )
    open_in = {rows[c.ref.key].phase for c in tasks if not c.done and c.ref.key in rows}
    current = next(
        (
            p.name
            for p in phases
            if not p.done and (p.ref.key in open_in or not _has_tasks(p, rows))
        ),
        None,
    )
    return {
        "tasks_done": sum(1 for c in tasks if c.done),
        "tasks_total": len(tasks),
        "hours_logged": sum((c.spent_hours or Decimal(0) for c in tasks), Decimal(0)),
        "hours_estimated": sum((c.estimated_hours or Decimal(0) for c in tasks), Decimal(0)),
        "current_phase": current,
    }


def _has_tasks(phase: ChildProgress, rows: dict[str, ChildRow]) -> bool:
    return any(row.phase == phase.ref.key for row in rows.values())
