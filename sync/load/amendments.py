"""The amendments of a plan the PSA holds already (``line_items`` rules, docs/architecture.md §14).

A task whose line item left the deal gets a note (``on_removed: flag``), never a delete or a close;
a changed quantity moves the task's estimate while no time is logged on it
(``on_quantity_change: follow``), else the estimate is the PSA's and stays.
"""

from __future__ import annotations

from decimal import Decimal

from sync.common.model import Outcome
from sync.common.structure import Child
from sync.connectors.psa.base import ProjectRef
from sync.connectors.psa.structure import StructureConnector
from sync.load.child_actions import STAGE, ChildReport, child_ref
from sync.load.context import LoadContext
from sync.state import children as rows
from sync.state.children import ChildRow


def flag_removed(
    ctx: LoadContext,
    psa: StructureConnector,
    record_id: str,
    removed: list[ChildRow],
    note: str,
    problems: list[str],
    report: ChildReport,
) -> None:
    """Tasks whose line item left the deal get the note (never a delete or a close)."""
    results = psa.flag_children([child_ref(r) for r in removed], note)
    flagged = [r.key for r in results if r.outcome in (Outcome.UPDATED, Outcome.UNCHANGED)]
    problems += [f"{r.key}: {r.error or r.outcome}" for r in results if r.key not in flagged]
    with ctx.state.transaction():
        rows.mark(ctx.state, flagged, rows.FLAGGED, note)
        for key in flagged:
            ctx.state.event(ctx.run_id, record_id, STAGE, "flagged", {"child": key, "note": note})
    report.flagged += len(flagged)


def move_estimates(
    ctx: LoadContext,
    psa: StructureConnector,
    record_id: str,
    project: ProjectRef,
    moved: list[tuple[ChildRow, Child]],
    problems: list[str],
    report: ChildReport,
) -> None:
    logged = {
        c.ref.key: c.spent_hours or Decimal(0) for c in psa.children([project]).get(project.id, [])
    }
    # (every estimate moved has hours: ``child_actions`` moves no estimate to None)
    free = [
        (row, child, child.hours)
        for row, child in moved
        if child.hours is not None and not logged.get(row.key)
    ]
    kept = [row.key for row, _ in moved if logged.get(row.key)]
    results = psa.set_estimates([(child_ref(row), hours) for row, _, hours in free]) if free else []
    done = {r.key for r in results if r.outcome in (Outcome.UPDATED, Outcome.UNCHANGED)}
    problems += [f"{r.key}: {r.error or r.outcome}" for r in results if r.key not in done]
    with ctx.state.transaction():
        rows.set_hours(
            ctx.state,
            [
                (row.key, hours, child.line_item.quantity if child.line_item else None)
                for row, child, hours in free
                if row.key in done
            ],
        )
        for row, _, hours in free:
            if row.key in done:
                ctx.state.event(
                    ctx.run_id,
                    record_id,
                    STAGE,
                    "estimate-moved",
                    {"child": row.key, "from": row.hours, "to": hours},
                )
        for key in kept:
            ctx.state.event(
                ctx.run_id,
                record_id,
                STAGE,
                "estimate-kept",
                {"child": key, "why": "time is logged on the task: its estimate is the PSA's now"},
            )
    report.estimates += len(done)
