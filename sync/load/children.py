"""Structure → PSA: each deal's phases and tasks, created exactly once, then left to the PSA.

The same protocol as projects (docs/architecture.md §5, §14): the children of a project are
committed as *intents* in one transaction before they are sent, linked in one transaction after the
PSA answers (phases first, so tasks can name them), and an intent left by a crash is looked up by
its key in the PSA before anything is created again. A deal's plan is marked in ``structures``
before its project is created (:func:`mark_plans`), so a crash anywhere still gives the project
its plan on the next pass.

After the first plan is complete the children are the PSA's. What psa-sync still does, on a deal's
later passes (amendments of what was sold):

* a new line item → a new task;
* a line item removed from the deal → its task is flagged (a note), never deleted or closed;
* a changed quantity → the task's estimate follows while no time is logged on it
  (``on_quantity_change``);
* template changes are not applied to projects already planned, and a child a person deleted is
  not made again (``reconcile`` reports it).

A closed project is left alone. A child the PSA refused, or made other than asked, quarantines its
deal (stage ``structure``) with the PSA's words; ``retry`` (or the deal's next change) tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sync.common.model import Create, Link, Outcome
from sync.common.structure import Child, ChildKind, ChildSource, Structure
from sync.connectors.psa.base import ProjectRef
from sync.connectors.psa.structure import ChildRef, ChildResult, StructureConnector
from sync.load.projects import LoadContext, ref_of
from sync.mapping.structure_rules import LineItemRules
from sync.state import children as rows
from sync.state.children import ChildRow

logger = logging.getLogger(__name__)

STAGE = "structure"


@dataclass
class ChildReport:
    created: int = 0
    found: int = 0
    flagged: int = 0
    estimates: int = 0
    problems: dict[str, list[str]] = field(default_factory=dict)  # record → what went wrong


def mark_plans(
    ctx: LoadContext, structures: dict[str, Structure], creates: Sequence[Create]
) -> None:
    """Before the creates: the deals whose new project gets a plan (one transaction)."""
    plans = [
        (c.row.record_id, structures[c.row.record_id].template)
        for c in creates
        if c.row.record_id in structures
    ]
    if plans:
        with ctx.state.transaction():
            rows.plan(ctx.state, plans, ctx.run_id)


def apply(
    ctx: LoadContext,
    structures: dict[str, Structure],
    amendments: LineItemRules | None,
    report: ChildReport,
) -> None:
    """Give every planned, linked, open project of the page what its structure still lacks;
    ``amendments``: the mapping's line-item rules (``on_removed``, ``on_quantity_change``)."""
    psa = ctx.psa
    if not structures or not isinstance(psa, StructureConnector):
        return
    plans = rows.planned(ctx.state, list(structures))
    if not plans:
        return
    links = ctx.state.links(plans)
    existing = rows.children_of(ctx.state, list(plans))
    for record_id, plan_state in plans.items():
        link = links.get(record_id)
        if link is None or link.link_state != "active" or link.closed_by is not None:
            # not created (yet), unlinked, or closed: a closed project is a person's business
            continue
        _apply_one(
            ctx,
            psa,
            link,
            structures[record_id],
            existing.get(record_id, {}),
            plan_state,
            amendments,
            report,
        )


def _apply_one(
    ctx: LoadContext,
    psa: StructureConnector,
    link: Link,
    structure: Structure,
    existing: dict[str, ChildRow],
    plan_state: str,
    amendments: LineItemRules | None,
    report: ChildReport,
) -> None:
    project = ref_of(link)
    problems: list[str] = []
    actions = child_actions(structure, existing, plan_state, amendments)
    if actions.create:
        _create(ctx, psa, link.record_id, project, list(actions.create), existing, problems, report)
    if actions.flag and amendments is not None:
        _flag(
            ctx, psa, link.record_id, list(actions.flag), amendments.removed_note, problems, report
        )
    if actions.estimates:
        _move_estimates(
            ctx, psa, link.record_id, project, list(actions.estimates), problems, report
        )
    reason = "; ".join(problems)
    before = [q["error"] for q in ctx.state.quarantined(link.record_id) if q["stage"] == STAGE]
    with ctx.state.transaction():
        if problems:
            ctx.state.quarantine(
                link.record_id, STAGE, reason, {"structure": structure.template}, ctx.run_id
            )
            ctx.state.event(ctx.run_id, link.record_id, STAGE, "quarantined", {"errors": problems})
        else:
            ctx.state.release(link.record_id, [STAGE])
            if plan_state != "complete":
                rows.complete(ctx.state, [link.record_id])
    if problems and before != [reason]:  # the same trouble as last time is not news (exit 1 once)
        report.problems[link.record_id] = problems


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


def _create(
    ctx: LoadContext,
    psa: StructureConnector,
    record_id: str,
    project: ProjectRef,
    todo: list[Child],
    existing: dict[str, ChildRow],
    problems: list[str],
    report: ChildReport,
) -> None:
    phases = {
        k: _ref(r)
        for k, r in existing.items()
        if r.kind is ChildKind.PHASE and r.child_id is not None
    }
    doubtful = [
        c.key for c in todo if c.key in existing
    ]  # intents a crash left: look before creating
    found = psa.find_children(project, doubtful) if doubtful else {}
    confirmed = [refs[0] for refs in found.values() if refs]
    if confirmed:
        with ctx.state.transaction():
            rows.link(ctx.state, confirmed, ctx.run_id)
        phases.update({r.key: r for r in confirmed if r.kind is ChildKind.PHASE})
        report.found += len(confirmed)
    for kind in (ChildKind.PHASE, ChildKind.TASK):
        batch = [
            c
            for c in todo
            if c.kind is kind and c.key not in found and (c.phase is None or c.phase in phases)
        ]
        if kind is ChildKind.TASK:
            waiting = [
                c for c in todo if c.kind is kind and c.phase is not None and c.phase not in phases
            ]
            problems += [f"task {c.name!r} waits for its phase {c.phase!r}" for c in waiting]
        if not batch:
            continue
        with ctx.state.transaction():
            rows.add_intents(ctx.state, record_id, project.id, batch, ctx.run_id)
        ctx.fault("after-child-intent")
        results = psa.create_children(project, batch, phases)
        ctx.fault("after-child-create")
        made = _settle(ctx, record_id, results, problems)
        phases.update({r.key: r for r in made if r.kind is ChildKind.PHASE})
        report.created += sum(1 for r in results if r.outcome == Outcome.CREATED)
        report.found += sum(1 for r in results if r.outcome == Outcome.EXISTS)


def _settle(
    ctx: LoadContext, record_id: str, results: list[ChildResult], problems: list[str]
) -> list[ChildRef]:
    """One transaction: link what the PSA holds, drop what it refused; an unanswered create keeps
    its intent for the next pass to look up."""
    made = [
        r.ref
        for r in results
        if r.outcome in (Outcome.CREATED, Outcome.EXISTS) and r.ref is not None
    ]
    refused = [r.key for r in results if r.outcome == Outcome.FAILED]
    for result in results:
        if result.error or result.outcome not in (Outcome.CREATED, Outcome.EXISTS):
            problems.append(f"{result.key}: {result.error or result.outcome}")
    with ctx.state.transaction():
        rows.link(ctx.state, made, ctx.run_id)
        rows.drop(ctx.state, refused)
        for result in results:
            ctx.state.event(
                ctx.run_id,
                record_id,
                STAGE,
                str(result.outcome),
                {
                    "child": result.key,
                    "id": result.ref.id if result.ref else None,
                    "url": result.ref.url if result.ref else None,
                    "error": result.error,
                },
            )
    return made


def _flag(
    ctx: LoadContext,
    psa: StructureConnector,
    record_id: str,
    removed: list[ChildRow],
    note: str,
    problems: list[str],
    report: ChildReport,
) -> None:
    """Tasks whose line item left the deal get the note (never a delete or a close)."""
    results = psa.flag_children([_ref(r) for r in removed], note)
    flagged = [r.key for r in results if r.outcome in (Outcome.UPDATED, Outcome.UNCHANGED)]
    problems += [f"{r.key}: {r.error or r.outcome}" for r in results if r.key not in flagged]
    with ctx.state.transaction():
        rows.mark(ctx.state, flagged, rows.FLAGGED, note)
        for key in flagged:
            ctx.state.event(ctx.run_id, record_id, STAGE, "flagged", {"child": key, "note": note})
    report.flagged += len(flagged)


def _move_estimates(
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
    results = psa.set_estimates([(_ref(row), hours) for row, _, hours in free]) if free else []
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


def _ref(row: ChildRow) -> ChildRef:
    return ChildRef(row.child_id or 0, row.key, row.kind, row.project_id, "", "open")
