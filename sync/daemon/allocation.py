"""The org's daily delivery allocation, for ``status``: read from REST ``/limits`` with the poll.

Every delivered change event counts against the org's rolling-24-hour allocation, shared with every
other subscriber (README "As changes happen"). Salesforce reports it in ``/limits`` as
``DailyDeliveredPlatformEvents {Max, Remaining}``. Reading it costs a REST call, and an idle daemon
makes none between two safety polls, so the daemon reads it inside its poll's run (the call is
counted on that run's row) and at most once per ``events.safety_poll``: with a healthy stream that
is one call a safety poll, with a broken one (the poll back at ``schedule.interval``) still one per
``safety_poll``. The figure is stored in the state file (``sync.state.events.save_allocation``)
with the moment it was read; ``status`` and the metrics show it.

A token that may not read ``/limits`` (it needs *View Setup and Configuration*) is no failure: the
poll goes on, a warning names the answer, and ``status`` shows ``events.daily_allocation`` if the
config gives one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from sync.common.clock import utcnow
from sync.common.errors import SyncError
from sync.orchestrator import stages
from sync.orchestrator.run import Run
from sync.orchestrator.session import RunResult
from sync.state import events as stored

if TYPE_CHECKING:
    from sync.connectors.salesforce.client import SalesforceClient
    from sync.daemon.service import Daemon

logger = logging.getLogger(__name__)

DELIVERIES = "DailyDeliveredPlatformEvents"


def poll(daemon: Daemon) -> RunResult:
    """The sync job's run with events on: ``stages.run_once``'s poll, then ``/limits`` when due."""

    def step(run: Run) -> None:
        stages.sync_changes(run)
        if due(daemon):
            refresh(daemon, run)

    result = stages.cycle(
        daemon.settings, "run", step, backsync=True, environ=daemon.environ, **daemon.kept()
    )
    result.log_summary()
    return result


def due(daemon: Daemon) -> bool:
    """Never read in this stream's life, or last read a ``safety_poll`` ago (less a second)."""
    path = daemon.event_path
    if path is None:
        return False
    last = path.allocation_read
    period = daemon.settings.events.safety_poll.total_seconds()
    return last is None or daemon.clock() - last >= period - 1


def refresh(daemon: Daemon, run: Run) -> None:
    """One ``GET /limits``; its delivery figure is stored in the run's state file. Whatever goes
    wrong is a warning: the allocation is shown, never needed."""
    path = daemon.event_path
    if path is None:
        return
    path.allocation_read = daemon.clock()
    client = cast("SalesforceClient", run.client)
    if not client.budget_left():
        return  # the run's next call stops it; this one must not be the call that passes a limit
    try:
        body = client.limits()
    except SyncError as exc:
        logger.warning(
            "events: the org's delivery allocation could not be read from /limits (%s); the token "
            "needs View Setup and Configuration, or set events.daily_allocation",
            exc,
        )
        return
    figure = _figure(body.get(DELIVERIES))
    if figure is None:
        logger.warning(
            "events: /limits has no usable %s (%r); status shows events.daily_allocation if set",
            DELIVERIES,
            body.get(DELIVERIES),
        )
        return
    with run.state.transaction():
        stored.save_allocation(run.state, figure)


def _figure(value: object) -> stored.Allocation | None:
    if not isinstance(value, dict):
        return None
    maximum, remaining = value.get("Max"), value.get("Remaining")
    if not isinstance(maximum, int) or not isinstance(remaining, int):
        return None
    if isinstance(maximum, bool) or isinstance(remaining, bool) or min(maximum, remaining) < 0:
        return None
    return stored.Allocation(maximum, remaining, utcnow())
