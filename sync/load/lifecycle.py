"""What happens to a project when its deal leaves the criteria, is deleted, or comes back.

Policies (``lifecycle.on_unwon`` / ``lifecycle.on_deleted``): ``flag`` sets the project's
"Salesforce status" (Won, Excluded, Reopened, Lost, Deleted; Tentative, Dropped for the pipeline's
tentative projects); ``close`` flags and closes it; ``ignore`` only records the event. A deal that
leaves the pipeline while open follows ``pipeline.on_drop``; a lost deal's stage field
(``pipeline.stage_field``) is set to the lost stage with the flag. A deal that is won again, or
undeleted, goes back to its *same* project — reopened only if psa-sync closed it, never if a person
did. Before closing, the PSA is asked whether the project is closed already (one ``delivery`` call
for the page's closes): a close psa-sync did not make is the person's (``closed_by: psa``), so a
later re-win flags the project and leaves it closed. Nothing is ever archived: archived Redmine
projects vanish from the API, and the duplicate guard would miss them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sync.common.model import DONE, LifecycleChange, Link, Outcome, SfStatus
from sync.connectors.psa.base import ProjectChange, ProjectRef, WriteResult
from sync.load.context import LoadContext, LoadReport, note_unconfirmed, ref_of
from sync.mapping.model import Lifecycle, Pipeline
from sync.transform.diff import payload_hash

logger = logging.getLogger(__name__)

STATUS_FIELD = "salesforce_status"
#: ``closed_by`` of a project closed in the PSA by a person (psa-sync's own closes say "psa-sync")
PERSON = "psa"


def policy_for(status: str, lifecycle: Lifecycle, pipeline: Pipeline | None = None) -> str:
    if status in (SfStatus.WON, SfStatus.TENTATIVE):
        return "restore"
    if status == SfStatus.DROPPED and pipeline is not None:
        return pipeline.on_drop
    return lifecycle.on_deleted if status == SfStatus.DELETED else lifecycle.on_unwon


@dataclass(frozen=True)
class Step:
    """What a policy came to: the event's outcome and who closed the project now; or, when the PSA
    neither confirmed nor refused one of its writes, that write (``unknown``)."""

    outcome: str = ""
    closed_by: str | None = None
    unknown: WriteResult | None = None


def apply(
    ctx: LoadContext, changes: Sequence[LifecycleChange], lifecycle: Lifecycle, report: LoadReport
) -> None:
    closed = _closed_already(ctx, changes, lifecycle)
    for change in changes:
        action = policy_for(change.status, lifecycle, ctx.pipeline)
        # as committed now: an update of this page may have moved its snapshot since the plan
        link = ctx.state.links([change.link.record_id]).get(change.link.record_id, change.link)
        if link.closed_by is None and link.key in closed:
            link = link.but(closed_by=PERSON)  # closed in the PSA, not by us: a person's close
        step = _act(ctx, link, change.status, action)
        if step.unknown is not None:
            # The link stays as it was; the update intent makes the next run re-fetch the deal,
            # see the same status change and apply the policy again (every step is idempotent).
            note_unconfirmed(
                ctx,
                report,
                change,
                "lifecycle",
                {"status": change.status, "error": step.unknown.error},
                intent={"status": change.status},
            )
            continue
        saved = link.but(
            sf_status=change.status,
            closed_by=step.closed_by,
            link_state="active"
            if change.status in (SfStatus.WON, SfStatus.TENTATIVE)
            else change.status.lower(),
        )
        if stage := _stage(ctx, link, change.status, action):  # the PSA holds the lost stage now
            payload = {**link.payload, **stage}
            saved = saved.but(payload=payload, payload_hash=payload_hash(payload))
        ctx.fault("after-lifecycle")
        with ctx.state.transaction():
            ctx.state.save_link(saved)
            ctx.state.drop_intent(link.record_id)  # an earlier unconfirmed attempt is settled now
            ctx.state.event(
                ctx.run_id,
                link.record_id,
                "lifecycle",
                step.outcome,
                {"status": change.status, "was": link.sf_status or SfStatus.WON, "policy": action},
            )


def _closed_already(
    ctx: LoadContext, changes: Sequence[LifecycleChange], lifecycle: Lifecycle
) -> set[str]:
    """The keys of the projects a close is planned for that the PSA holds closed already (a person
    closed them: delivery finished). One batched read; none when no close is planned."""
    refs = [
        ref_of(change.link)
        for change in changes
        if change.link.closed_by is None
        and policy_for(change.status, lifecycle, ctx.pipeline) == "close"
    ]
    if not refs:
        return set()
    return {
        key
        for key, delivery in ctx.psa.delivery(refs, hours=False).items()
        if delivery.status == "closed"
    }


def _act(ctx: LoadContext, link: Link, status: str, action: str) -> Step:
    ref = ref_of(link)
    if action == "ignore":
        return Step("ignored", link.closed_by)
    if action == "restore":
        ours = link.closed_by == "psa-sync"
        if ours and (unknown := _unknown(ctx.psa.set_lifecycle([ref], "reopen")[0])):
            return Step(unknown=unknown)
        if unknown := _flag(ctx, ref, status):
            return Step(unknown=unknown)
        return Step("reopened", None) if ours else Step("flagged", link.closed_by)
    if unknown := _flag(ctx, ref, status, _stage(ctx, link, status, action)):
        return Step(unknown=unknown)
    if action == "close" and link.closed_by is None:
        if unknown := _unknown(ctx.psa.set_lifecycle([ref], "close")[0]):
            return Step(unknown=unknown)
        return Step("closed", "psa-sync")
    return Step("flagged", link.closed_by)


def _unknown(result: WriteResult) -> WriteResult | None:
    return result if result.outcome == Outcome.UNKNOWN else None


def _stage(ctx: LoadContext, link: Link, status: str, action: str) -> dict[str, str]:
    """The stage field set to the lost stage, for a lost deal whose project carries a stage
    (tentative projects); else nothing."""
    pipeline = ctx.pipeline
    if (
        pipeline is None
        or status != SfStatus.LOST
        or action == "ignore"
        or pipeline.stage_field not in link.payload
    ):
        return {}
    return {pipeline.stage_field: pipeline.stage("lost")}


def _flag(
    ctx: LoadContext, ref: ProjectRef, status: str, stage: dict[str, str] | None = None
) -> WriteResult | None:
    """Set the project's Salesforce status field (if the PSA has one) and, for a lost tentative
    project, its stage (``_stage``); the write if it went unconfirmed."""
    fields = {STATUS_FIELD: status} if STATUS_FIELD in ctx.psa.describe() else {}
    fields.update(stage or {})
    if not fields:
        return None
    result = ctx.psa.update([ProjectChange(ref=ref, fields=fields)])[0]
    if result.outcome == Outcome.UNKNOWN:
        return result
    if result.outcome not in DONE:
        logger.warning(
            "could not flag project %s as %s: %s", ref.id, status, result.error or result.outcome
        )
    return None
