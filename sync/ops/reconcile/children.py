"""Reconcile a project's plan: a child psa-sync made that the PSA no longer has is drift.

One ``children`` read per planned project (Redmine: its versions, issues and time entries; Tryton:
one search for all), only for projects that carry a plan. A child deleted by hand is reported; with
``--repair`` its row is forgotten and the deal's plan reopened, so the deal's re-fetch through the
run's own page step makes it again, under the same intent protocol (nothing is made twice: the
other children are still linked). A flagged task (its line item left the deal) is not expected back.
"""

from __future__ import annotations

from sync.common.model import Link
from sync.connectors.psa.structure import StructureConnector
from sync.load.projects import ref_of
from sync.ops.reconcile.model import Drift
from sync.orchestrator.session import Run
from sync.state import children as rows

KIND = "child-missing"


def children_drift(run: Run, links: dict[str, Link]) -> list[Drift]:
    """One drift per linked child missing from the PSA.

    A pure comparison after one read of the plan per project.
    """
    if not isinstance(run.psa, StructureConnector):
        return []
    kept = rows.children_of(run.state, list(links))
    planned = [
        links[r]
        for r, children in kept.items()
        if r in links
        and links[r].link_state == "active"
        and any(c.child_id for c in children.values())
    ]
    if not planned:
        return []
    read = run.psa.children([ref_of(link) for link in planned])
    drift = []
    for link in planned:
        present = {c.ref.key for c in read.get(link.project_id, [])}
        for child in kept[link.record_id].values():
            if child.child_id and child.status == rows.LINKED and child.key not in present:
                drift.append(
                    Drift(
                        KIND,
                        link.record_id,
                        child.key,
                        f"{child.kind.value} {child.name!r} (#{child.child_id}) of project "
                        f"{link.project_id}",
                        repair="recreate-child",
                        project_ids=(link.project_id,),
                    )
                )
    return drift


def forget_children(run: Run, items: list[Drift]) -> set[str]:
    """``--repair``: forget the missing children and reopen their deals' plans.

    Returns the deals to re-fetch.
    """
    if not items:
        return set()
    with run.state.transaction():
        rows.forget(run.state, [d.key for d in items], {d.record_id for d in items if d.record_id})
        for item in items:
            run.state.event(
                run.run_id, item.record_id, "reconcile", "child-forgotten", {"child": item.key}
            )
    return {d.record_id for d in items if d.record_id}
