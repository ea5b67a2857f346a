"""The daemon's jobs. Each is the command a person would run, through the same entry point, on the
clients the daemon keeps: a sync cycle is ``stages.run_once`` (a run: the same lock, run row and
exit code), a reconcile is ``reconcile.run.reconcile``. Nothing here knows the stages' order.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sync.common.errors import ExitCode, LockHeldError, SyncError, exit_code_of
from sync.daemon import allocation
from sync.daemon.policy import Verdict, verdict
from sync.orchestrator import stages

if TYPE_CHECKING:
    from sync.daemon.service import Daemon

logger = logging.getLogger(__name__)


def sync_cycle(daemon: Daemon) -> None:
    """One run on the kept clients, unless the back-off says to let this tick pass."""
    began = daemon.clock()
    if daemon.backoff.waiting(began) or not daemon.poll_due(began):
        return
    try:
        code = _poll(daemon).exit_code
    except LockHeldError:
        logger.info(
            "a run started by hand holds the lock; "
            "this cycle did nothing and the next tick tries again"
        )
        code = ExitCode.LOCK_HELD
    except SyncError as exc:  # before a run row existed: the state file's disk, say
        logger.error("%s", exc)
        code = exc.exit_code
    except Exception:  # noqa: BLE001 - a bug: the run row says failed, the log has the traceback; go on
        logger.exception(
            "unexpected error in a cycle (a bug in psa-sync: please report it with this log)"
        )
        code = ExitCode.UNEXPECTED
    if code in (0, 1):
        daemon.last_poll = began
    after(daemon, code, began)


def _poll(daemon: Daemon):
    """A run; with events on, the same run reads the org's delivery allocation when it is due."""
    if daemon.event_path is None:
        return stages.run_once(daemon.settings, environ=daemon.environ, **daemon.kept())
    return allocation.poll(daemon)


def after(daemon: Daemon, code: int, began: float) -> None:
    """Back to the interval, a longer pause (counted from the cycle's start, as the run rows show
    the spacing), or the end of the daemon, by the cycle's exit code."""
    decided = verdict(code)
    if decided is Verdict.DONE:
        if daemon.backoff.succeeded():
            logger.info(
                "the cycle worked again (exit %d): back to a cycle every %ss",
                code,
                daemon.backoff.interval,
            )
    elif decided is Verdict.BACKOFF:
        delay = daemon.backoff.failed(began)
        logger.warning(
            "cycle ended with exit %d; the next cycle in %.0fs (failure %d in a row)",
            code,
            delay,
            daemon.backoff.failures,
        )
    elif decided is Verdict.STOP:
        daemon.stop_with(
            code,
            "a cycle ended with an error no retry can fix (config, mapping or credentials); "
            "fix it and start the daemon again",
        )


def reconcile(daemon: Daemon) -> None:
    """The scheduled reconcile: a report (``schedule.reconcile_repair: true`` repairs too)."""
    from sync.ops.reconcile.run import reconcile as check_both

    repair = daemon.settings.schedule.reconcile_repair
    try:
        report = check_both(daemon.settings, repair=repair, environ=daemon.environ, **daemon.kept())
    except LockHeldError:
        logger.warning(
            "the scheduled reconcile found the lock held by a run started by hand; "
            "it runs next time"
        )
        return
    except Exception as exc:  # noqa: BLE001 - a reconcile that fails must not end the daemon's cycles
        logger.error("the scheduled reconcile failed: %s", exc)
        code = exit_code_of(exc)
    else:
        code = report.exit_code
        logger.info(
            "scheduled reconcile%s: %s (exit %d)",
            " --repair" if repair else "",
            report.status,
            code,
        )
    if verdict(code) is Verdict.STOP:
        daemon.stop_with(code, "the scheduled reconcile met an error no retry can fix")


def retention(daemon: Daemon) -> None:
    """The nightly retention, batch by batch; a stopping daemon ends it between two batches."""
    from sync.state import retention as policy

    try:
        policy.apply(daemon.settings, stop=lambda: daemon.stopping)
    except SyncError as exc:  # the lock held for a minute, the disk: tomorrow is another night
        logger.warning("the nightly retention did not run: %s", exc)
