"""``reconcile --repair``: fix what can be fixed safely, through the pipeline's own page step.

Missed deals and orphans' deals are re-fetched by Id and processed exactly as a run would (the
create path looks the key up first and adopts), hard-deleted deals get the ``on_deleted`` policy,
link fields go through the outbox, a missing project's link is dropped and its deal re-fetched.
Duplicates are only reported: psa-sync never deletes anything.
"""

from __future__ import annotations

from sync.common.clock import utcnow
from sync.common.model import DONE, DesiredRow, LifecycleChange, Link, SfStatus
from sync.connectors.psa.base import ProjectChange
from sync.extract import incremental
from sync.load import lifecycle
from sync.load.context import ref_of
from sync.ops.reconcile.children import forget_children
from sync.ops.reconcile.model import Drift
from sync.orchestrator import stages
from sync.orchestrator.run import Run
from sync.state import State


def repair_drift(run: Run, drift: list[Drift]) -> None:
    """Fix what can be fixed safely; re-fetched deals go through the run's own page processing.

    The step of ``stages.cycle``: settle, unconfirmed and the final write-back follow it there.
    """
    links = run.state.links({d.record_id for d in drift if d.record_id})
    refetch: set[str] = set()
    _flag_deleted(run, [d for d in drift if d.repair == "lifecycle"], links)
    for item in drift:
        link = links.get(item.record_id) if item.record_id else None
        if item.repair == "drop-link" and link is not None:
            _drop_link(run, item, link)
            item.dropped = True
            refetch.add(item.record_id)
        elif item.repair == "restore-key" and link is not None:
            _restore_key(run, item, link)
        elif item.repair == "queue":
            with run.state.transaction():
                run.state.queue(item.record_id, item.values)
                run.state.event(
                    run.run_id,
                    item.record_id,
                    "reconcile",
                    "repair-queued",
                    {"fields": item.values},
                )
        elif item.repair == "refetch" and item.record_id:
            refetch.add(item.record_id)
    refetch |= forget_children(run, [d for d in drift if d.repair == "recreate-child"])
    for records in incremental.fetch_ids(run.client, run.mapping, refetch):
        stages.process_page(run, records)


def _flag_deleted(run: Run, items: list[Drift], links: dict[str, Link]) -> None:
    """A purged deal never comes back in a query.

    So apply ``on_deleted`` as a run would for a deleted row.
    """
    changes = []
    for item in items:
        link = links.get(item.record_id)
        if link is None:
            continue
        row = DesiredRow(
            record_id=link.record_id,
            key=link.key,
            modstamp=utcnow(),
            deleted=True,
            matches=False,
            fields=dict(link.payload),
            record_links={},
        )
        changes.append(LifecycleChange(row, link, SfStatus.DELETED))
    lifecycle.apply(run.ctx, changes, run.mapping.lifecycle, run.load)
    run.counts["lifecycle"] += len(changes)
    with run.state.transaction():
        for change in changes:  # nothing can be written to a record that no longer exists
            run.state.drop_outbox(change.link.record_id)
            run.state.event(
                run.run_id,
                change.link.record_id,
                "reconcile",
                "hard-deleted",
                {"project_id": change.link.project_id},
            )


def _drop_link(run: Run, item: Drift, link: Link) -> None:
    """The project is gone: forget the link.

    The re-fetched deal is then created again if it still matches.
    """
    with run.state.transaction():
        run.state.drop_link(link.record_id)
        run.state.drop_outbox(link.record_id)
        run.state.event(
            run.run_id,
            link.record_id,
            "reconcile",
            "link-dropped",
            {"project_id": link.project_id, "reason": item.detail},
        )


def _restore_key(run: Run, item: Drift, link: Link) -> None:
    """A linked project lost its key: write it back.

    Without it the duplicate guard cannot see the project.
    """
    result = run.psa.update([ProjectChange(ref=ref_of(link), fields={"key": link.key})])[0]
    item.status = "repaired" if result.outcome in DONE else "remaining"
    run.state.event(
        run.run_id,
        link.record_id,
        "reconcile",
        f"key-{item.status}",
        {"project_id": link.project_id, "error": result.error},
    )


def grade(state: State, drift: list[Drift], fingerprint: str | None = None) -> None:
    """After the repairs: read the state again.

    Each drift is marked repaired, quarantined or remaining.
    """
    links = {link.record_id: link for link in state.all_links()}
    keys = {link.key for link in links.values()}
    quarantined = {q["record_id"] for q in state.quarantined()}
    pending = state.outbox_fields()
    for item in drift:
        if item.status == "found":
            item.status = outcome(item, links, keys, quarantined, pending, fingerprint)


def outcome(
    item: Drift,
    links: dict[str, Link],
    keys: set[str],
    quarantined: set[str],
    pending: set[tuple[str, str]],
    fingerprint: str | None = None,
) -> str:
    """Whether one drift is gone now (pure)."""
    link = links.get(item.record_id) if item.record_id else None
    if item.repair is None:
        return "remaining"
    if item.kind == "orphan":
        return (
            "repaired"
            if item.key in keys
            else "quarantined"
            if item.record_id in quarantined
            else "remaining"
        )
    if item.kind in ("hard-deleted", "unflagged-deleted"):
        return "repaired" if link is None or link.sf_status == "Deleted" else "remaining"
    if item.kind == "project-missing" and (
        link is None or item.dropped or link.project_id not in item.project_ids
    ):
        return "quarantined" if item.record_id in quarantined else "repaired"
    if item.kind == "missed" and link is not None:
        return "repaired"
    if item.kind == "old-mapping" and link is not None and link.mapping == fingerprint:
        return "repaired"
    if item.kind == "child-missing":  # made again by the deal's re-fetch, or still quarantined
        return "quarantined" if item.record_id in quarantined else "repaired"
    if item.kind == "link-field" and not any((item.record_id, f) in pending for f in item.values):
        return "quarantined" if item.record_id in quarantined else "repaired"
    return "quarantined" if item.record_id in quarantined else "remaining"
