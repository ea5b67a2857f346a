"""The stages that close a run, after its pages: settle, unconfirmed, and the final write-back.

Their order, and where they stand in a run, is written in :mod:`sync.orchestrator.stages`
(``cycle``); here is what each does. None reads Salesforce: settle and unconfirmed ask only the
PSA, and the write-back spends on Salesforce's writes what the run's API budget has left.
"""

from __future__ import annotations

import logging

from sync.backsync.outbox import flush
from sync.common.errors import BudgetExceededError, PsaUnavailable, SyncError
from sync.load.settle import settle_unconfirmed
from sync.orchestrator.run import Run

logger = logging.getLogger(__name__)


def settle(run: Run) -> None:
    """One more try for the PSA's unconfirmed writes (``load.settle.settle_unconfirmed``)."""
    settle_unconfirmed(run.ctx, run.load, run.psa.identifier)
    run.tally_load()


def unconfirmed(run: Run) -> None:
    """A write the PSA never confirmed must not end in exit 0: the deal is not in the PSA yet (or
    not up to date). Its intent is committed, so the next run looks it up first and finishes it."""
    pending = sorted(run.load.unknown)  # settle() left only what is still open
    run.counts["unconfirmed"] = len(pending)
    if pending:
        shown = ", ".join(pending[:5]) + (
            f" and {len(pending) - 5} more" if len(pending) > 5 else ""
        )
        raise PsaUnavailable(
            f"the PSA neither confirmed nor refused {len(pending)} write(s) "
            "after retrying (5xx or no answer): "
            f"{shown}; the next run looks them up before anything else and finishes them"
        )


def final_flush(run: Run) -> None:
    """Send what the outbox holds, even after an error, unless the budget itself is the problem:
    then a run that leaves write-backs waiting says so with exit 4 instead of ending as if all were
    done."""
    try:
        if run.client.budget_left():
            flush(
                run.state,
                run.client,
                run.mapping.source.object,
                run.run_id,
                report=run.writeback,
                fault=run.fault,
            )
        elif waiting := run.state.outbox_count():
            raise BudgetExceededError(
                f"the API budget of this run is spent; {waiting} deal(s) wait in the outbox "
                "for their write-back, which the next run sends first"
            )
    except SyncError as exc:
        logger.warning("write-back left pending for the next run: %s", exc)
        raise
    finally:
        run.counts["written"] = run.writeback.written
        run.counts["written_later"] = run.writeback.retry_later
        run.count_new_failures(run.writeback.failed)
    if run.writeback.retry_later:
        logger.warning(
            "Salesforce refused %d write-back(s) for now (a row lock or another transient error); "
            "they stay in the outbox and the next run sends them again",
            run.writeback.retry_later,
        )
