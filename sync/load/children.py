"""Structure → PSA: each deal's phases and tasks, created exactly once, then left to the PSA.

The same protocol as projects (docs/architecture.md §5, §14): the children of a project are
committed as *intents* in one transaction before they are sent, linked in one transaction after the
PSA answers (phases first, so tasks can name them), and an intent left by a crash is looked up by
its key in the PSA before anything is created again. A deal's plan is marked in ``structures``
before its project is created (:func:`mark_plans`), so a crash anywhere still gives the project
its plan on the next pass.

After the first plan is complete the children are the PSA's. What psa-sync still does, on a deal's
later passes (amendments of what was sold; :mod:`sync.load.amendments`):

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

from sync.common.model import Create, Link, Outcome
from sync.common.structure import Child, ChildKind, Structure
from sync.connectors.psa.base import ProjectRef
from sync.connectors.psa.structure import ChildRef, ChildResult, StructureConnector
from sync.load.amendments import flag_removed, move_estimates
from sync.load.child_actions import STAGE, ChildReport, child_actions, child_ref
from sync.load.context import LoadContext, ref_of
from sync.mapping.structure_rules import LineItemRules
from sync.state import children as rows
from sync.state.children import ChildRow

logger = logging.getLogger(__name__)


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
        flag_removed(
            ctx, psa, link.record_id, list(actions.flag), amendments.removed_note, problems, report
        )
    if actions.estimates:
        move_estimates(ctx, psa, link.record_id, project, list(actions.estimates), problems, report)
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
        k: child_ref(r)
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
