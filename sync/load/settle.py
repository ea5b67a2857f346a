"""The end-of-run retry of writes the PSA left unconfirmed (docs/architecture.md §5.4)."""

from __future__ import annotations

import time
from collections.abc import Callable

from sync.common.model import Create, Update
from sync.load.context import LoadContext, LoadReport, Unsettled
from sync.load.projects import create_projects
from sync.load.updates import update_projects
from sync.state import State

SETTLE_PAUSE_SECONDS = 2.0  # before the end-of-run retry of unconfirmed writes


def settle_unconfirmed(
    ctx: LoadContext,
    report: LoadReport,
    identifier_of: Callable[[str], str],
    pause: float = SETTLE_PAUSE_SECONDS,
) -> None:
    """One more try, at the end of the run, for the writes the PSA neither confirmed nor refused.

    A Redmine on SQLite answers 500 ("database is locked") in bursts; a create that failed all its
    quick attempts usually goes through a few seconds later. Creates are looked up first (the 500
    may have hidden a commit) and adopted or sent again under their still-open intent; updates are
    sent again. Costs no Salesforce call. What stays unconfirmed is left in ``report.unknown`` for
    the pipeline to report: its intent makes the next run finish it.
    """
    unknown = still_unconfirmed(ctx.state, report.unknown)
    retry = {record_id: w for record_id, w in unknown.items() if isinstance(w, (Create, Update))}
    # a lifecycle write is left to the next run's re-fetch
    report.unknown = {record_id: w for record_id, w in unknown.items() if record_id not in retry}
    if not retry:
        return
    time.sleep(pause)
    create_projects(
        ctx, [w for w in retry.values() if isinstance(w, Create)], identifier_of, report
    )
    update_projects(ctx, [w for w in retry.values() if isinstance(w, Update)], report)


def still_unconfirmed(state: State, unknown: dict[str, Unsettled]) -> dict[str, Unsettled]:
    """The unknown writes whose intent is still open. A deal can come twice in one run (recovery's
    re-fetch, then the query): a later confirmed write dropped the intent, and re-sending the older
    write would put stale values back."""
    open_intents = {i.record_id: i.action for i in state.intents()}
    linked = state.links(unknown)
    return {
        record_id: w
        for record_id, w in unknown.items()
        if open_intents.get(record_id) == ("create" if isinstance(w, Create) else "update")
        and (record_id not in linked) == isinstance(w, Create)
    }
