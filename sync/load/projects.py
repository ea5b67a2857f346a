"""Plan → PSA connector → links, with the intent protocol that keeps creates exactly-once.

The dangerous window of the whole job is between "the PSA said 201" and "SQLite committed the link".
So: before a batch is sent, its *intents* commit in one transaction; when the batch (or, for a PSA
that takes one request per project, each chunk of it: ``create_chunk``) has answered, its links,
snapshot rows, outbox entries for the link write-backs and the removal of its intents commit
together in one more. A crash in between leaves intents, which ``recover`` resolves at the start of
the next run by looking their keys up in the PSA, in bulk. Creates also look the keys up first (in
bulk), and a taken identifier is adopted, so even a lost state file cannot double a project.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync.common.clock import iso
from sync.common.errors import RecordError
from sync.common.model import DONE, Create, DesiredRow, LifecycleChange, Link, Outcome, Update
from sync.connectors.psa.base import (
    NewProject,
    Policies,
    ProjectChange,
    ProjectRef,
    PsaConnector,
    WriteResult,
)
from sync.connectors.psa.batch import CreateChunk, chunks
from sync.mapping.model import Pipeline
from sync.state import State
from sync.transform.diff import link_values, payload_hash, same

logger = logging.getLogger(__name__)

Unsettled = Create | Update | LifecycleChange


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    # writes the PSA neither confirmed nor refused
    unknown: dict[str, Unsettled] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadContext:
    state: State
    psa: PsaConnector
    run_id: int
    writeback: dict[str, str]
    on_create: set[str]
    on_closed: str = Policies.on_closed
    parent_of: Callable[[DesiredRow], ProjectRef | None] | None = None  # customer: parent_project
    fingerprint: str | None = None  # of the mapping the payloads are made with
    # test-only crash points (see sync.common.faults)
    fault: Callable[[str], None] = lambda point: None
    pipeline: Pipeline | None = None  # the mapping's pipeline when it makes tentative projects
    # the PSA's (one request per project), else the whole batch
    create_chunk: CreateChunk | None = None


@dataclass(frozen=True)
class Linking:
    """A project to link in a batch's commit (``link_projects``), with the values it was made of."""

    row: DesiredRow
    ref: ProjectRef
    fields: dict
    action: str
    outcome: str
    detail: dict | None = None
    pending: dict | None = None


def ref_of(link: Link, status: str = "active") -> ProjectRef:
    return ProjectRef(
        id=link.project_id,
        identifier=link.project_identifier,
        key=link.key,
        url=link.project_url,
        status=status,
    )


def new_link(
    row: DesiredRow,
    ref: ProjectRef,
    fields: dict[str, Any],
    mapping: str | None = None,
    pending: dict[str, Any] | None = None,
) -> Link:
    return Link(
        record_id=row.record_id,
        key=row.key,
        project_id=ref.id,
        project_identifier=ref.identifier,
        project_url=ref.url,
        payload_hash=payload_hash(fields),
        payload=dict(fields),
        written={},
        backsync={},
        link_state="active",
        sf_status="Tentative" if row.pipeline and not row.matches else "Won",
        closed_by="psa" if ref.status == "closed" else None,
        pending=dict(pending or {}),
        kept_psa=[],
        mapping=mapping,
    )


def choose(refs: list[ProjectRef], identifier: str) -> ProjectRef | None:
    """Of several projects with one key (a hand copy), prefer the one whose identifier we made."""
    ours = [ref for ref in refs if ref.identifier == identifier]
    if ours:
        return ours[0]
    return refs[0] if len(refs) == 1 else None


def create_projects(
    ctx: LoadContext,
    creates: Sequence[Create],
    identifier_of: Callable[[str], str],
    report: LoadReport,
) -> None:
    """Look up, then create what is really new; adopt what already exists."""
    if not creates:
        return
    found = ctx.psa.find([c.row.key for c in creates])
    fresh: list[Create] = []
    existing: list[tuple[DesiredRow, ProjectRef]] = []
    for create in creates:
        refs = found.get(create.row.key, [])
        if not refs:
            fresh.append(create)
            continue
        ref = choose(refs, identifier_of(create.row.key))
        if ref is None:
            ids = ", ".join(str(r.id) for r in refs)
            _fail(
                ctx,
                create.row,
                report,
                f"key found on {len(refs)} PSA projects ({ids}) and none has the identifier "
                "psa-sync makes; remove the copy's key in the PSA, "
                "then run `psa-sync retry`",
            )
            continue
        existing.append((create.row, ref))
    if existing:  # a lost state file: read every project to adopt in one listing, not one call each
        values = ctx.psa.read([ref for _, ref in existing])
        for row, ref in existing:
            adopt(ctx, row, ref, values.get(row.key, {}), report)
    news = _new_projects(ctx, fresh, report)
    if not news:
        return
    ctx.state.add_intents(((c.row.record_id, c.row.key, c.row.fields) for c, _ in news), ctx.run_id)
    ctx.fault("after-intent")
    for chunk in chunks(news, ctx.create_chunk):
        results = ctx.psa.create([project for _, project in chunk])
        _settle_creates(ctx, [create for create, _ in chunk], results, report)
        # this chunk's links committed; the batch's later chunks not sent yet
        ctx.fault("after-chunk")


def _new_projects(
    ctx: LoadContext, creates: list[Create], report: LoadReport
) -> list[tuple[Create, NewProject]]:
    """The projects to create, each with its parent (``customer: parent_project``). A parent the PSA
    refuses is that deal's failure: it is quarantined and the rest of the page is created."""
    news = []
    for create in creates:
        try:
            parent = ctx.parent_of(create.row) if ctx.parent_of else None
        except RecordError as exc:
            _fail(
                ctx,
                create.row,
                report,
                f"the PSA refused the parent project of Account {exc.record_id}: {exc.reason}; "
                "fix the Account (or the PSA's required fields), then run `psa-sync retry`",
            )
            continue
        news.append(
            (create, NewProject(key=create.row.key, fields=create.row.fields, parent=parent))
        )
    return news


def _settle_creates(
    ctx: LoadContext, creates: list[Create], results: list[WriteResult], report: LoadReport
) -> None:
    """A chunk's answers: the projects made are linked in one commit, the rest one by one."""
    answered = list(zip(creates, results, strict=True))
    made = [
        (create.row, result.ref)
        for create, result in answered
        if result.outcome == Outcome.CREATED and result.ref is not None
    ]
    for _ in made:
        ctx.fault("after-create")  # the PSA said 201, no link of the chunk is committed yet
    # The record's stamp as read: the Closed Won → project latency of the metrics starts there.
    link_projects(
        ctx,
        [
            Linking(
                row,
                ref,
                row.fields,
                "create",
                "created",  # a tentative one is no Closed Won
                {"record_stamp": iso(row.modstamp)} if row.matches else {"tentative": True},
            )
            for row, ref in made
        ],
    )
    report.created.extend(row.record_id for row, _ in made)
    for create, result in answered:
        if result.outcome != Outcome.CREATED or result.ref is None:
            _settle_other(ctx, create, result, report)


def _settle_other(
    ctx: LoadContext, create: Create, result: WriteResult, report: LoadReport
) -> None:
    row, ref = create.row, result.ref
    if result.outcome == Outcome.EXISTS and ref is not None:
        adopt(ctx, row, ref, result.values or ctx.psa.read([ref]).get(row.key, {}), report)
    elif result.outcome in (Outcome.UNKNOWN, Outcome.CREATED, Outcome.EXISTS):
        # No answer, or a project named without its reference: the intent stays, and the next
        # run's recovery looks the key up before anything else.
        error = result.error
        if error is None and result.outcome != Outcome.UNKNOWN:
            error = f"the PSA answered {result.outcome} without naming the project"
        note_unconfirmed(ctx, report, create, "create", {"error": error})
    else:
        _fail(ctx, row, report, result.error or result.outcome)


def adopt(
    ctx: LoadContext, row: DesiredRow, ref: ProjectRef, values: dict, report: LoadReport
) -> None:
    """Link an existing project: push only the CRM-owned fields that differ; PSA-owned values
    survive.

    The snapshot records only what the PSA surely holds: a closed project keeps the push as pending
    (applied when a person reopens it), and a push the PSA left unconfirmed is snapshotted as the
    PSA's old values and retried as an update, so it can never be taken for done.
    """
    push = {
        name: value
        for name, value in row.fields.items()
        if name not in ctx.on_create and not same(value, values.get(name))
    }
    if not push:
        link_project(ctx, row, ref, row.fields, "adopt", "adopted", {"pushed": []})
    elif ref.status == "closed":
        link_project(
            ctx, row, ref, row.fields, "adopt", "adopted", {"pending": sorted(push)}, pending=push
        )
    else:
        result = ctx.psa.update([ProjectChange(ref=ref, fields=push)])[0]
        if result.outcome == Outcome.FAILED:
            _fail(ctx, row, report, result.error or "update refused")
            return
        if result.outcome == Outcome.UNKNOWN:
            had = {**row.fields, **{name: values.get(name) for name in push}}
            with ctx.state.transaction():
                link = link_project(
                    ctx, row, ref, had, "adopt", "adopted", {"unconfirmed": sorted(push)}
                )
                ctx.state.add_intents([(row.record_id, row.key, push)], ctx.run_id, "update")
            report.unknown[row.record_id] = Update(row, link, push, payload_hash(row.fields))
        else:
            link_project(ctx, row, ref, row.fields, "adopt", "adopted", {"pushed": sorted(push)})
    report.adopted.append(row.record_id)


def link_project(
    ctx: LoadContext,
    row: DesiredRow,
    ref: ProjectRef,
    fields: dict,
    action: str,
    outcome: str,
    detail: dict | None = None,
    pending: dict | None = None,
) -> Link:
    return link_projects(ctx, [Linking(row, ref, fields, action, outcome, detail, pending)])[0]


def link_projects(ctx: LoadContext, items: Sequence[Linking]) -> list[Link]:
    """The commit point of a batch's (or a chunk's) creates: links, snapshots, link write-backs and
    intent removals together, one statement each, in one transaction."""
    if not items:
        return []
    links = [new_link(i.row, i.ref, i.fields, ctx.fingerprint, i.pending) for i in items]
    ids = [i.row.record_id for i in items]
    with ctx.state.transaction():
        ctx.state.save_links(links)
        ctx.state.drop_intents(ids)
        ctx.state.release_all(ids, ["transform", "load"])
        ctx.state.queue_all((link.record_id, link_values(link, ctx.writeback)) for link in links)
        ctx.state.add_events(
            ctx.run_id,
            (
                (
                    i.row.record_id,
                    i.action,
                    i.outcome,
                    {
                        "project_id": i.ref.id,
                        "url": i.ref.url,
                        "values": i.fields,
                        **(i.detail or {}),
                    },
                )
                for i in items
            ),
        )
    return links


def update_projects(ctx: LoadContext, updates: Sequence[Update], report: LoadReport) -> None:
    """Push changed CRM-owned fields; a closed project follows the ``on_closed`` policy."""
    todo = [u for u in updates if u.changed]
    answered: list[tuple[Update, dict[str, Any], str]] = [
        (update, {}, "unchanged") for update in updates if not update.changed
    ]
    results = (
        ctx.psa.update([ProjectChange(ref=ref_of(u.link), fields=u.changed) for u in todo])
        if todo
        else []
    )
    if todo:
        # the PSA holds the change (a tentative project's stage set Won), no snapshot yet
        ctx.fault("after-update")
    for update, result in zip(todo, results, strict=True):
        if result.outcome in DONE:
            answered.append((update, {}, "updated"))
            report.updated.append(update.row.record_id)
        elif (
            result.outcome == Outcome.CLOSED
            and ctx.on_closed == "reopen_update_close"
            and _through_closed(ctx, update)
        ):
            answered.append((update, {}, "updated-reopened-closed"))
            report.updated.append(update.row.record_id)
        elif result.outcome == Outcome.CLOSED:
            answered.append((update, {**update.link.pending, **update.changed}, "pending-closed"))
            report.pending.append(update.row.record_id)
        elif result.outcome == Outcome.UNKNOWN:
            # Not confirmed either way: keep the old snapshot and leave an update intent.
            note_unconfirmed(
                ctx, report, update, "update", {"error": result.error}, intent=update.changed
            )
        else:
            _fail(ctx, update.row, report, result.error or result.outcome)
    _remember(ctx, answered)


def note_unconfirmed(
    ctx: LoadContext,
    report: LoadReport,
    write: Unsettled,
    action: str,
    detail: dict,
    intent: dict | None = None,
) -> None:
    """Remember a write the PSA neither confirmed nor refused. ``intent`` (for a deal already
    linked) leaves an update intent, so the next run re-fetches the deal whatever its stamp; a
    create already has its own. ``report.unknown`` gets it one more try at the end of this run."""
    record_id = write.row.record_id
    with ctx.state.transaction():
        if intent is not None:
            ctx.state.add_intents([(record_id, write.row.key, intent)], ctx.run_id, "update")
        ctx.state.event(ctx.run_id, record_id, action, "unknown", detail)
    report.unknown[record_id] = write


def _through_closed(ctx: LoadContext, update: Update) -> bool:
    """``on_closed: reopen_update_close``: reopen, update, close again (never the parent)."""
    ref = ref_of(update.link, status="closed")
    if ctx.psa.set_lifecycle([ref], "reopen")[0].outcome not in DONE:
        return False
    result = ctx.psa.update([ProjectChange(ref=ref, fields=update.changed)])[0]
    closed = ctx.psa.set_lifecycle([ref], "close")[0]
    if closed.outcome not in DONE:  # never leave a person's closed project open quietly
        logger.error(
            "project %s was reopened to update it and could not be closed again (%s); close it in "
            "the PSA",
            ref.id,
            closed.error or closed.outcome,
        )
        with ctx.state.transaction():
            ctx.state.event(
                ctx.run_id,
                update.row.record_id,
                "update",
                "reclose-failed",
                {"project_id": ref.id, "error": closed.error},
            )
    return result.outcome in DONE


def _remember(ctx: LoadContext, answered: list[tuple[Update, dict, str]]) -> None:
    """One commit: the snapshots of a batch's answered updates (and what waits for closed ones)."""
    if not answered:
        return
    ids = [update.row.record_id for update, _, _ in answered]
    with ctx.state.transaction():
        ctx.state.save_links(
            update.link.but(
                payload=dict(update.row.fields),
                payload_hash=update.payload_hash,
                pending=pending,
                mapping=ctx.fingerprint,
            )
            for update, pending, _ in answered
        )
        ctx.state.drop_intents(ids)  # an update intent is settled by this answer
        ctx.state.release_all(ids, ["transform", "load"])
        ctx.state.add_events(
            ctx.run_id,
            (
                (update.row.record_id, "update", outcome, {"changed": update.changed})
                for update, _, outcome in answered
            ),
        )


def _fail(ctx: LoadContext, row: DesiredRow, report: LoadReport, reason: str) -> None:
    """Quarantine a write the PSA refused; its intent, answered now, goes in the same commit (never
    one without the other, or a crash in between would leave the deal in neither place)."""
    with ctx.state.transaction():
        ctx.state.drop_intent(row.record_id)
        ctx.state.quarantine(row.record_id, "load", reason, {"fields": row.fields}, ctx.run_id)
        ctx.state.event(ctx.run_id, row.record_id, "load", "quarantined", {"error": reason})
    report.failed[row.record_id] = reason
