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

from sync.connectors.psa.base import ProjectChange
from sync.diff import LifecycleChange
from sync.load import LoadContext, ref_of
from sync.state import Link

logger = logging.getLogger(__name__)

STATUS_FIELD = "salesforce_status"
#: Opportunity fields read besides the mapping's: the deal's status (lifecycle) and its Account
#: (``customer: parent_project``).
FACT_FIELDS = ("IsWon", "IsClosed", "AccountId", "Account.Name")


def facts_of(records: list[dict]) -> dict[str, dict]:
    """IsWon, IsClosed, AccountId and the Account's name per record Id (Opportunity records)."""
    facts = {}
    for record in records:
        if "Id" not in record:
            continue
        found = {k: record[k] for k in ("IsWon", "IsClosed", "AccountId") if k in record}
        account = record.get("Account")
        if isinstance(account, dict):
            found["AccountName"] = account.get("Name")
        facts[record["Id"]] = found
    return facts


def policy_for(status: str, lifecycle) -> str:
    if status == "Won":
        return "restore"
    return lifecycle.on_deleted if status == "Deleted" else lifecycle.on_unwon


def apply(ctx: LoadContext, changes: Sequence[LifecycleChange], lifecycle) -> None:
    for change in changes:
        action = policy_for(change.status, lifecycle)
        link = change.link
        outcome, closed_by = _act(ctx, link, change.status, action)
        saved = replace(link, sf_status=change.status, closed_by=closed_by,
                        link_state="active" if change.status == "Won" else change.status.lower())
        with ctx.state.transaction():
            ctx.state.save_link(saved)
            ctx.state.event(ctx.run_id, link.opportunity_id, "lifecycle", outcome,
                            {"status": change.status, "was": link.sf_status or "Won", "policy": action})


def _act(ctx: LoadContext, link: Link, status: str, action: str) -> tuple[str, str | None]:
    ref = ref_of(link)
    if action == "ignore":
        return "ignored", link.closed_by
    if action == "restore":
        if link.closed_by == "psa-sync":
            ctx.psa.set_lifecycle([ref], "reopen")
        _flag(ctx, ref, status)
        return ("reopened" if link.closed_by == "psa-sync" else "flagged"), (
            None if link.closed_by == "psa-sync" else link.closed_by)
    _flag(ctx, ref, status)
    if action == "close" and link.closed_by is None:
        ctx.psa.set_lifecycle([ref], "close")
        return "closed", "psa-sync"
    return "flagged", link.closed_by


def _flag(ctx: LoadContext, ref, status: str) -> None:
    if STATUS_FIELD not in ctx.psa.describe():
        return
    result = ctx.psa.update([ProjectChange(ref=ref, fields={STATUS_FIELD: status})])[0]
    if result.outcome not in ("updated", "unchanged"):
        logger.warning("could not flag project %s as %s: %s", ref.id, status, result.error or result.outcome)
