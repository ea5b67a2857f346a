"""What happens to a project when its deal leaves the criteria, is deleted, or comes back.

Policies (``lifecycle.on_unwon`` / ``lifecycle.on_deleted``): ``flag`` sets the project's
"Salesforce status" (Won, Excluded, Reopened, Lost, Deleted); ``close`` flags and closes it;
``ignore`` only records the event. A deal that is won again, or undeleted, goes back to its *same*
project — reopened only if psa-sync closed it, never if a person did. Nothing is ever archived:
archived Redmine projects vanish from the API, and the duplicate guard would miss them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from sync.connectors.psa.base import ProjectChange, WriteResult
from sync.load.projects import LoadContext, LoadReport, note_unconfirmed, ref_of
from sync.model import LifecycleChange, Link

logger = logging.getLogger(__name__)

STATUS_FIELD = "salesforce_status"


def policy_for(status: str, lifecycle) -> str:
    if status == "Won":
        return "restore"
    return lifecycle.on_deleted if status == "Deleted" else lifecycle.on_unwon


def apply(ctx: LoadContext, changes: Sequence[LifecycleChange], lifecycle, report: LoadReport) -> None:
    for change in changes:
        action = policy_for(change.status, lifecycle)
        link = change.link
        try:
            outcome, closed_by = _act(ctx, link, change.status, action)
        except Unconfirmed as exc:
            # The link stays as it was; the update intent makes the next run re-fetch the deal, see the
            # same status change and apply the policy again (every step is idempotent).
            note_unconfirmed(ctx, report, change, "lifecycle", {"status": change.status, "error": exc.result.error},
                             intent={"status": change.status})
            continue
        saved = replace(link, sf_status=change.status, closed_by=closed_by,
                        link_state="active" if change.status == "Won" else change.status.lower())
        with ctx.state.transaction():
            ctx.state.save_link(saved)
            ctx.state.drop_intent(link.record_id)  # an earlier unconfirmed attempt is settled now
            ctx.state.event(ctx.run_id, link.record_id, "lifecycle", outcome,
                            {"status": change.status, "was": link.sf_status or "Won", "policy": action})


class Unconfirmed(Exception):
    """The PSA answered a lifecycle write with a 5xx (or not at all): we do not know if it happened."""

    def __init__(self, result: WriteResult):
        super().__init__(result.error)
        self.result = result


def _act(ctx: LoadContext, link: Link, status: str, action: str) -> tuple[str, str | None]:
    ref = ref_of(link)
    if action == "ignore":
        return "ignored", link.closed_by
    if action == "restore":
        if link.closed_by == "psa-sync":
            _confirmed(ctx.psa.set_lifecycle([ref], "reopen")[0])
        _flag(ctx, ref, status)
        return ("reopened" if link.closed_by == "psa-sync" else "flagged"), (
            None if link.closed_by == "psa-sync" else link.closed_by)
    _flag(ctx, ref, status)
    if action == "close" and link.closed_by is None:
        _confirmed(ctx.psa.set_lifecycle([ref], "close")[0])
        return "closed", "psa-sync"
    return "flagged", link.closed_by


def _confirmed(result: WriteResult) -> WriteResult:
    if result.outcome == "unknown":
        raise Unconfirmed(result)
    return result


def _flag(ctx: LoadContext, ref, status: str) -> None:
    if STATUS_FIELD not in ctx.psa.describe():
        return
    result = _confirmed(ctx.psa.update([ProjectChange(ref=ref, fields={STATUS_FIELD: status})])[0])
    if result.outcome not in ("updated", "unchanged"):
        logger.warning("could not flag project %s as %s: %s", ref.id, status, result.error or result.outcome)
