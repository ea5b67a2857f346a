"""Plan → PSA for the deals already linked: the changed CRM-owned fields, pushed in one batch.

A closed project follows ``on_closed`` (keep the change pending, or reopen, update and close again);
each answer's snapshot commits with its intent's removal in one transaction for the batch
(docs/architecture.md §5).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sync.common.model import DONE, Outcome, Update
from sync.connectors.psa.base import ProjectChange
from sync.load.context import LoadContext, LoadReport, note_refused, note_unconfirmed, ref_of

logger = logging.getLogger(__name__)


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
            note_refused(ctx, update.row, report, result.error or result.outcome)
    _remember(ctx, answered)


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
