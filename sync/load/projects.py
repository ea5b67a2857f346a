"""New deals → PSA projects → links: create or adopt, under the intent protocol (exactly-once).

The dangerous window of the whole job is between "the PSA said 201" and "SQLite committed the link".
So: before a batch is sent, its *intents* commit in one transaction; when the batch (or, for a PSA
that takes one request per project, each chunk of it: ``create_chunk``) has answered, its links,
snapshot rows, outbox entries for the link write-backs and the removal of its intents commit
together in one more. A crash in between leaves intents, which ``recover`` resolves at the start of
the next run by looking their keys up in the PSA, in bulk. Creates also look the keys up first (in
bulk), and a taken identifier is adopted, so even a lost state file cannot double a project.

The deals already linked are updated by :mod:`sync.load.updates`; what every step is given is in
:mod:`sync.load.context`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sync.common.clock import iso
from sync.common.errors import RecordError
from sync.common.model import Create, DesiredRow, Link, Outcome, Update
from sync.connectors.psa.base import NewProject, ProjectChange, ProjectRef, WriteResult
from sync.connectors.psa.batch import chunks
from sync.load.context import LoadContext, LoadReport, note_refused, note_unconfirmed
from sync.transform.diff import link_values, payload_hash, same


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
            note_refused(
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
            note_refused(
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
        note_refused(ctx, row, report, result.error or result.outcome)


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
            note_refused(ctx, row, report, result.error or "update refused")
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
