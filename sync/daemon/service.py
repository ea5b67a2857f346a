"""The daemon's frame: one APScheduler ``BlockingScheduler``, its jobs, the signals, and the reload.

Jobs run one at a time in the main thread (``DebugExecutor``: it calls the job where the scheduler
loop runs). That is on purpose: the Salesforce client and the PSA connector kept across cycles are
not thread-safe, a reconcile must never overlap a cycle, and Python runs signal handlers in the main
thread, so SIGTERM can stop a cycle where it stands. ``max_instances=1`` and ``coalesce=True`` say
the same to the scheduler: a cycle that outlasts its interval is followed by one cycle, not a
backlog.

Signals:

- SIGTERM / SIGINT: no new cycle starts. A cycle under way stops at its next safe point (after the
  token, recovery, a committed page or back-sync: each a commit point, docs/architecture.md §4.2);
  if none comes within ``STOP_GRACE`` seconds (one slow PSA batch), it is abandoned where it is, as
  Ctrl-C abandons a run (intents make the PSA writes in flight safe). Either way the run row says
  ``interrupted``, the lock is released, and the daemon exits 0.
- SIGHUP: the config and the mapping are read again; a broken one is refused with a logged error
  and the daemon goes on with the old. New connection settings mean a new token at the next cycle;
  a new state file or metrics address is taken (its daemon lock, its port) before the old is let go
  (``instance.swap``), so a reload that cannot have them is refused whole.

One daemon per state file: ``instance.take`` holds ``<state>.daemon.lock`` for the daemon's life
(exit 75 for a second one) and serves ``/metrics`` (a port in use: exit 2 naming the address).

The handlers only set flags and, when no job is running, stop the scheduler loop; the work (stop,
reload, a new scheduler with the new schedule) happens in :meth:`Daemon.serve`, never in a handler.
"""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.blocking import BlockingScheduler

from sync.common.errors import SyncError
from sync.config import Settings, load_settings
from sync.daemon import event_jobs, instance, schedule
from sync.daemon.events import EventPath
from sync.daemon.policy import Backoff
from sync.mapping.loader import load_mapping
from sync.orchestrator.connections import Connections, make_clients

logger = logging.getLogger(__name__)

STOP_GRACE = 3.0  # seconds a stopping cycle may take to reach a safe point before it is abandoned
#: The crash points at which a stopping cycle ends: each comes right after a commit point.
SAFE_POINTS = frozenset({"after-token", "after-recover", "after-page", "after-backsync"})
_CONNECTION_KEYS = (
    "salesforce",
    "psa",
    "http",
    "limits",
)  # a change here needs new clients (a new token)


class Shutdown(KeyboardInterrupt):
    """Raised inside a cycle to stop it (SIGTERM, SIGINT): ``interrupted``, as after Ctrl-C."""


class Daemon:
    """``Daemon(config_path, settings).serve()`` runs until a signal or a cycle that cannot."""

    def __init__(
        self,
        config_path: Path,
        settings: Settings,
        environ: dict[str, str] | None = None,
        metrics_limits: dict | None = None,
    ):
        self.config_path = config_path
        self.metrics_limits = (
            metrics_limits or {}
        )  # MetricsServer's slots / idle_timeout (tests shorten them)
        self.held: instance.Held | None = None
        self.settings = settings
        self.mapping = load_mapping(settings.mapping)
        self.environ = environ
        self.connections: Connections | None = None
        self.backoff = self._backoff(settings)
        self.clock = time.monotonic  # what the back-off counts in; a test gives its own
        self.exit_code = 0
        self.stopping = False
        self.reload_asked = False
        self.busy = False  # a job is running
        self.scheduler: BlockingScheduler | None = None
        # The event path (``events.enabled``): listeners started once the first cycle has a token.
        self.event_path = EventPath(settings, self.mapping) if settings.events.enabled else None
        self.listener_options: dict = {}  # tests: the listeners' sleep (back-off without waiting)
        self.last_poll: float | None = (
            None  # when the last poll window ran (``clock``): the safety poll's pace
        )

    # --- the loop ---------------------------------------------------------------------------------

    def serve(self) -> int:
        """Schedule the jobs and run them until stopped; returns the daemon's exit code.

        Raises DaemonRunningError (another daemon on this state file) or ConfigError (``/metrics``
        cannot be served where configured) before anything runs."""
        self.held = instance.take(self.settings, **self.metrics_limits)
        previous = {
            sig: signal.signal(sig, handler)
            for sig, handler in (
                (signal.SIGTERM, self._on_stop),
                (signal.SIGINT, self._on_stop),
                (signal.SIGHUP, self._on_reload),
                (signal.SIGALRM, self._on_alarm),
            )
        }
        logging.getLogger("apscheduler").setLevel(
            logging.WARNING
        )  # one line per job run is the run's own
        logger.info(
            "daemon started: a cycle every %ss, back-off up to %ss; state %s",
            self.settings.schedule.cycle.total_seconds(),
            self.backoff.cap,
            self.settings.state,
        )
        try:
            while not self.stopping:
                self.scheduler = self._scheduler()
                try:
                    # returns when stopped: a signal, a reload, or a cycle that cannot go on
                    self.scheduler.start()
                except JobLookupError:  # halted from a handler while the loop was between two jobs
                    if not (self.stopping or self.reload_asked):
                        raise
                if self.reload_asked and not self.stopping:
                    self.reload()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if self.event_path is not None:
                self.event_path.stop()
                event_jobs.record_stopped(self)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            instance.release(self.held)
        logger.info("daemon stopped (exit %d)", self.exit_code)
        return self.exit_code

    def _scheduler(self) -> BlockingScheduler:
        """The jobs under the current settings (``sync.daemon.schedule``), each run by ``_job``."""
        return schedule.timetable(
            self.settings, self._job, self._after_job, events=self.event_path is not None
        )

    def _after_job(self, event) -> None:
        if self.stopping or self.reload_asked:
            self._halt()

    def _job(self, body):
        """A job body, run with ``busy`` set; a stop or reload asked meanwhile is done once it ends
        (``_after_job``)."""

        def run() -> None:
            self.busy = True
            try:
                body(self)
            except Shutdown:
                self.stopping = True
                logger.info("the job was stopped by a signal; what it committed stays")
            finally:
                self.busy = False
                signal.setitimer(signal.ITIMER_REAL, 0)

        run.__name__ = body.__name__
        return run

    def _halt(self) -> None:
        """End the scheduler loop (a handler when idle, or a job's end); ``serve`` goes on."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    # --- what the jobs share ----------------------------------------------------------------------

    def kept(self) -> dict:
        """What every job's run session re-uses: the clients, the mapping, the stop hook."""
        if self.connections is None:
            self.connections = make_clients(
                self.settings
            )  # the token is asked by the first session
        self.connections.new_run()
        return {
            "connected": self.connections,
            "mapping": self.mapping,
            "checkpoint": self.checkpoint,
        }

    def checkpoint(self, point: str) -> None:
        """Called at every crash point of a run: a stopping daemon ends the run at a safe one."""
        if self.stopping and point in SAFE_POINTS:
            raise Shutdown(f"stopped at {point}")

    def stop_with(self, exit_code: int, why: str) -> None:
        """A cycle no retry can fix: stop the daemon with its exit code."""
        logger.error("the daemon stops (exit %d): %s", exit_code, why)
        self.exit_code, self.stopping = exit_code, True

    # --- signals ----------------------------------------------------------------------------------

    def _on_stop(self, signum, frame) -> None:
        if self.stopping and self.busy:
            raise Shutdown("a second signal: the job is abandoned now")
        self.stopping = True
        logger.info("%s: stopping after the current step", signal.Signals(signum).name)
        if self.busy:
            signal.setitimer(signal.ITIMER_REAL, STOP_GRACE)
        else:
            self._halt()

    def _on_alarm(self, signum, frame) -> None:
        if self.busy and self.stopping:
            raise Shutdown(
                f"no safe point within {STOP_GRACE:g}s: the job is abandoned where it stands"
            )

    def _on_reload(self, signum, frame) -> None:
        self.reload_asked = True
        logger.info("SIGHUP: the config and mapping are read again after the current job")
        if not self.busy:
            self._halt()

    # --- reload -----------------------------------------------------------------------------------

    def reload(self) -> bool:
        """Read the config and mapping again; a broken one is refused. True if reloaded."""
        self.reload_asked = False
        try:
            settings = load_settings(self.config_path)
            mapping = load_mapping(settings.mapping)
            held = instance.swap(self.held, self.settings, settings, **self.metrics_limits)
        except SyncError as exc:
            logger.error(
                "SIGHUP: the new config or mapping is refused; "
                "the daemon goes on with the old one:\n%s",
                exc,
            )
            return False
        self.held = held
        if any(getattr(settings, key) != getattr(self.settings, key) for key in _CONNECTION_KEYS):
            self.connections = None
            logger.info("SIGHUP: the connection settings changed; the next cycle asks a new token")
        changed = "changed" if mapping.fingerprint != self.mapping.fingerprint else "unchanged"
        self.settings, self.mapping = settings, mapping
        if self.event_path is not None or settings.events.enabled:
            # a new mapping may write other fields (echoes), a new token other credentials
            self._restart_events()
        failures = self.backoff.failures
        self.backoff = self._backoff(settings)
        self.backoff.failures = failures
        logger.info(
            "SIGHUP: config and mapping reloaded (mapping %s, fingerprint %s)",
            changed,
            mapping.fingerprint[:12],
        )
        return True

    def _restart_events(self) -> None:
        """New listeners under the reloaded settings, from the committed replay ids (work not yet
        committed comes again: a re-read is a no-op where it was done)."""
        if self.event_path is not None:
            self.event_path.stop()
            event_jobs.record_stopped(self)
        self.event_path = (
            EventPath(self.settings, self.mapping) if self.settings.events.enabled else None
        )

    def poll_due(self, now: float) -> bool:
        """The sync job's poll: every ``schedule.interval``, slowed to ``events.safety_poll`` while
        the stream is healthy (a stream that is not healthy brings the interval back at once)."""
        if self.event_path is None or self.last_poll is None or not self.event_path.healthy():
            return True
        return now - self.last_poll >= self.settings.events.safety_poll.total_seconds() - 1

    @staticmethod
    def _backoff(settings: Settings) -> Backoff:
        interval = settings.schedule.cycle.total_seconds()
        return Backoff(
            interval=interval, cap=max(interval, settings.schedule.backoff_max.total_seconds())
        )
