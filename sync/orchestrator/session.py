"""The :class:`Session` that records a run in the state file, from its row's start to its finish,
and the pieces a session is made of (the two connections, the guard against a state file of another
org or PSA, the crash points); the :class:`~sync.orchestrator.run.Run` it starts is in ``run.py``.

``stages.run_session`` is the one place that puts these pieces together, in order, for every entry
point.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sync.common.errors import (
    INTERRUPTED,
    BudgetExceededError,
    StateMismatchError,
    SyncError,
    exit_code_of,
)
from sync.common.faults import crash_hook, create_chunk
from sync.common.logs import redact
from sync.config import Settings
from sync.connectors.base import SalesforceApi
from sync.connectors.psa.base import PsaConnector
from sync.mapping.model import Mapping
from sync.ops.metrics import totals
from sync.orchestrator.connections import Connections, make_clients
from sync.orchestrator.run import Run
from sync.state import DatabaseError, State
from sync.state.files import translate

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    """How a run ended, as recorded in its ``runs`` row and printed by the CLI."""

    run_id: int | None
    status: str  # ok | failures | stopped | failed (reconcile: ok | drift | stopped | failed)
    exit_code: int
    counts: dict[str, int] = field(default_factory=dict)
    api_calls: dict[str, int] = field(default_factory=dict)
    org_usage: dict | None = None
    error: str | None = None
    psa_calls: int = 0

    def log_summary(self) -> None:
        counts = " ".join(f"{k}={v}" for k, v in self.counts.items())
        usage = self.org_usage or {}
        logger.info(
            "run finished status=%s exit=%s %s sf_calls=%s psa_calls=%s org_usage=%s/%s",
            self.status,
            self.exit_code,
            counts,
            sum(self.api_calls.values()),
            self.psa_calls,
            usage.get("used"),
            usage.get("max"),
        )


#: A connected Salesforce client and a PSA connector, kept across sessions.
Connected = Connections | tuple[SalesforceApi, PsaConnector]


def guard(
    state: State, org_id: str, psa_url: str, state_path: Path, *, record: bool = True
) -> None:
    """Refuse a state file made against another org or PSA (a sandbox keeps production's record
    Ids); a new file learns both (unless ``record`` is off: a read-only look such as ``adopt``'s
    report)."""
    for key, now in (("org_id", org_id), ("psa_url", psa_url)):
        was = state.meta(key)
        if was is None:
            if record:
                state.set_meta(key, now)
        elif was != now:
            what = "Salesforce org" if key == "org_id" else "PSA"
            raise StateMismatchError(
                f"the state file {state_path} was made against {what} {was}, "
                f"but this config reaches {now}. "
                "Use one state file per org and PSA; nothing was changed"
            )


@dataclass
class Session:
    """One run row from start to finish. ``start()`` connects; a ``SyncError`` raised inside the
    ``with`` block is recorded on the run row and ends the session with its exit code."""

    settings: Settings
    mapping: Mapping
    state: State
    mode: str
    run_id: int
    environ: dict[str, str]
    run: Run | None = None
    error: SyncError | None = None
    aborted: BaseException | None = None  # a bug or Ctrl-C: recorded, then re-raised
    connected: Connected | None = None  # clients a caller keeps across sessions (already connected)
    # called at each crash point too (the daemon's stop)
    checkpoint: Callable[[str], None] | None = None
    result: RunResult | None = None
    _client: SalesforceApi | None = None
    _connections: Connected | None = None
    # calls a re-used client made before this session
    _calls_before: dict = field(default_factory=dict)
    _psa_before: int = 0

    def start(self) -> Run:
        """Connect (a kept client only the first time: its token counts on this run), guard, go."""
        connections = make_clients(self.settings) if self.connected is None else self.connected
        client, psa = _pair(connections)
        self._client, self._connections = client, connections
        self._calls_before = dict(client.usage.calls)
        self._psa_before = _psa_calls(connections)
        if self.connected is None or not client.org_id:
            client.connect()
        fault = _chain(crash_hook(self.environ), self.checkpoint)
        fault("after-token")
        guard(self.state, client.org_id, psa.url, self.settings.state)
        # reconcile reports; the runs record which mapping made the snapshots
        if self.mode != "reconcile":
            self.state.set_meta("mapping_fingerprint", self.mapping.fingerprint)
        self.run = Run(
            self.settings,
            self.mapping,
            self.state,
            client,
            psa,
            self.run_id,
            fault,
            create_chunk=create_chunk(self.environ, getattr(psa, "create_chunk", None)),
        )
        return self.run

    def conclusion(self) -> tuple[str, int, dict[str, int]]:
        """(status, exit code, counts) of a run, as its row records them (``run_session``'s
        default; reconcile concludes from its own report)."""
        status, exit_code = self.outcome()
        run = self.run
        counts = {} if run is None else {**run.counts, "new_failures": run.new_failures}
        return status, exit_code, counts

    def outcome(self) -> tuple[str, int]:
        """(status, exit code) of a run; reconcile decides its own from its report."""
        if self.aborted is not None:
            code = exit_code_of(self.aborted)
            return ("interrupted" if code == INTERRUPTED else "failed"), code
        if self.error is not None:
            return (
                "stopped" if isinstance(self.error, BudgetExceededError) else "failed"
            ), self.error.exit_code
        if self.run is None:
            return "failed", 1
        return ("ok", 0) if self.run.new_failures == 0 else ("failures", 1)

    def fail(self, error: SyncError) -> None:
        self.error = error
        logger.error("%s", error)

    def finish(self, status: str, exit_code: int, counts: dict[str, int]) -> RunResult:
        """Record how the run ended. If the state file refuses even that, the first error still
        wins: a run that had failed keeps its error and exit code, one that had not fails with exit
        74."""
        client = self._client
        result = RunResult(
            run_id=self.run_id,
            status=status,
            exit_code=exit_code,
            counts=counts,
            error=redact(str(self.error)) if self.error is not None else None,
        )
        if client is not None:
            result.api_calls = {
                k: n - self._calls_before.get(k, 0)
                for k, n in client.usage.calls.items()
                if n > self._calls_before.get(k, 0)
            }
            result.org_usage = {"used": client.usage.org_used, "max": client.usage.org_max}
            result.psa_calls = _psa_calls(self._connections) - self._psa_before
        self.result = result
        try:
            with self.state.transaction():  # the run's row and the metrics' counters move together
                self.state.finish_run(
                    self.run_id,
                    status=status,
                    exit_code=exit_code,
                    counts=counts,
                    api_calls=result.api_calls,
                    org_usage=result.org_usage,
                    error=result.error,
                    psa_calls=result.psa_calls,
                )
                totals.add_run(
                    self.state,
                    self.run_id,
                    self.mode,
                    exit_code,
                    counts,
                    result.api_calls,
                    result.psa_calls,
                )
        except DatabaseError as exc:
            if self.error is None and self.aborted is None:
                error = translate(self.settings.state, exc)
                self.fail(error)
                result.status, result.exit_code, result.error = (
                    "failed",
                    error.exit_code,
                    str(error),
                )
            else:
                logger.warning(
                    "the end of run %s could not be recorded in the state file either: %s",
                    self.run_id,
                    exc,
                )
        if self.settings.metrics.textfile is not None:
            from sync.ops.metrics.export import write_textfile

            write_textfile(self.settings, self.state)
        return result


def _pair(connections: Connected) -> tuple[SalesforceApi, PsaConnector]:
    """The client and the connector of kept or new connections."""
    if isinstance(connections, Connections):
        return connections.client, connections.psa
    return connections


def _psa_calls(connections: Connected | None) -> int:
    """The PSA requests answered so far (counted by :class:`Connections` only)."""
    return connections.psa_calls if isinstance(connections, Connections) else 0


def _chain(*hooks: Callable[[str], None] | None) -> Callable[[str], None]:
    """One crash-point function calling each hook given, in order."""
    active = [hook for hook in hooks if hook is not None]
    if len(active) == 1:
        return active[0]

    def call(point: str) -> None:
        for hook in active:
            hook(point)

    return call


def after_failure(step: Callable[[Run], None], run: Run) -> None:
    """Run a clean-up step after a failed block; its own failure is logged, never raised, so the
    error reported (and the exit code) stays the first one, the one that says what went wrong."""
    try:
        step(run)
    except Exception as exc:  # noqa: BLE001 - the first error is already on its way out
        logger.warning("after the error above, %s also failed: %s", step.__name__, exc)
