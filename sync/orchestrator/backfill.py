"""`psa-sync backfill`: the history of an org — deals closed in a date range — beside the runs.

A backfill selects by **CloseDate** (a business date), not by SystemModstamp: it never reads or
moves the run's watermark. It reads the range ordered by Id (REST pages, or one Bulk API 2.0 job
above ``limits.bulk_threshold`` rows; :mod:`sync.orchestrator.date_range`), and processes it in
batches of ``BATCH_ROWS`` records, each through the run's own page step in a run session of its own:
the run lock is held for one batch only, so a scheduled run waits seconds, never hours. Each batch
commits, with its results, the Id it reached; interrupted in any way, the same command continues
after that Id.

Every exactly-once rule of a run holds, because the batches go through the same load (intents, look
up before create, adoption): a deal already linked is an update or nothing, a project that already
carries the key is adopted, never a second project.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from sync.common.clock import iso, utcnow
from sync.common.errors import ConfigError, SyncError
from sync.config import Settings
from sync.connectors.base import SalesforceApi
from sync.mapping.model import Mapping
from sync.orchestrator import stages
from sync.orchestrator.date_range import check_source, read_range
from sync.orchestrator.run import Run
from sync.orchestrator.session import Connected, make_clients
from sync.state import State
from sync.state.lock import backfill_lock, run_lock

logger = logging.getLogger(__name__)

MODE = "backfill"  # the run mode of its batches
KEY = "backfill"  # meta key: the backfill in progress (JSON), or the last one, finished
BATCH_ROWS = 200  # one PSA batch and one sObject Collections call each: a short lock hold
LOCK_WAIT_SECONDS = 900.0  # a batch waits this long for a scheduled run to finish
# between batches: a scheduled run waiting for the lock takes its turn here
TURN_PAUSE_SECONDS = 0.3


@dataclass
class Progress:
    """What the state file remembers of a backfill: its range, where it is, and what it did."""

    since: str
    until: str
    total: int = 0
    done: int = 0
    after_id: str | None = None
    reader: str = "rest"
    counts: dict[str, int] = field(default_factory=dict)
    started_at: str = ""
    advanced_at: str = ""
    finished_at: str | None = None
    longest_hold_s: float = 0.0

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def overlaps(self, since: date, until: date) -> bool:
        return not (
            until < date.fromisoformat(self.since) or since > date.fromisoformat(self.until)
        )


@dataclass
class BackfillReport:
    """What the command reports: the progress, and (dry run) the first examples of each action."""

    progress: Progress
    exit_code: int = 0
    error: str | None = None
    dry_run: bool = False
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    api_calls: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "version": 1,
            "dry_run": self.dry_run,
            "exit_code": self.exit_code,
            "error": self.error,
            **asdict(self.progress),
            "examples": self.examples,
            "salesforce_calls": self.api_calls,
        }


def batches(pages: Iterator[list[dict]], size: int = BATCH_ROWS) -> Iterator[list[dict]]:
    """Read pages (2,000 rows, or a Bulk result set) cut into batches of ``size`` records (a batch,
    not a window: a window is a time range of the run's query; docs/architecture.md, glossary)."""
    for page in pages:
        for start in range(0, len(page), size):
            yield page[start : start + size]


def load_progress(state: State | None) -> Progress | None:
    saved = state.meta(KEY) if state is not None else None
    return Progress(**json.loads(saved)) if saved else None


def begin(state: State | None, since: date, until: date) -> Progress:
    """The backfill to run: the unfinished one of this range (resumed), else a new one. Another
    range while one is unfinished is refused: its cursor would be lost."""
    current = load_progress(state)
    if current is not None and not current.finished:
        if (current.since, current.until) == (since.isoformat(), until.isoformat()):
            return current
        how = "overlaps" if current.overlaps(since, until) else "would lose the cursor of"
        raise ConfigError(
            f"this range {how} an unfinished backfill of {current.since}..{current.until} "
            f"({current.done}/{current.total} done, last advanced {current.advanced_at}); "
            f"run `psa-sync backfill --since {current.since} --until {current.until}` "
            "to finish it first. Nothing was written"
        )
    now = iso(utcnow())
    return Progress(
        since=since.isoformat(), until=until.isoformat(), started_at=now, advanced_at=now
    )


def read(
    client: SalesforceApi,
    mapping: Mapping,
    settings: Settings,
    progress: Progress,
    since: date,
    until: date,
) -> Iterator[list[dict]]:
    """The records after the backfill's cursor; the total it is out of."""
    remaining, progress.reader, pages = read_range(
        client, mapping, settings, since, until, progress.after_id
    )
    progress.total = progress.done + remaining
    return pages


def run_backfill(
    settings: Settings,
    mapping: Mapping,
    since: date,
    until: date,
    *,
    reporter: Callable[[Progress], None] | None = None,
    batch_rows: int = BATCH_ROWS,
    environ: dict[str, str] | None = None,
) -> BackfillReport:
    """Batches through run sessions until the range is done or a batch fails; resumable."""
    check_source(mapping)
    # held to the end: the scheduled runs wait for a batch, never exit 75
    with backfill_lock(settings):
        return _run(settings, mapping, since, until, reporter, batch_rows, environ)


def _run(
    settings: Settings,
    mapping: Mapping,
    since: date,
    until: date,
    reporter: Callable[[Progress], None] | None,
    batch_rows: int,
    environ: dict[str, str] | None,
) -> BackfillReport:
    with _locked_state(settings) as state:
        progress = begin(state, since, until)
        state.set_meta(KEY, json.dumps(asdict(progress)))
    connections = make_clients(settings)
    client = connections.client
    client.connect()
    outcome = BackfillReport(progress)
    try:
        for batch in batches(read(client, mapping, settings, progress, since, until), batch_rows):
            code, error = _batch(settings, connections, mapping, progress, batch, environ)
            if reporter is not None:
                reporter(progress)
            if code not in (0, 1):
                outcome.exit_code, outcome.error = code, error
                break
            outcome.exit_code = max(outcome.exit_code, code)
            time.sleep(TURN_PAUSE_SECONDS)
        else:
            _finish(settings, progress)
    except SyncError as exc:
        outcome.exit_code, outcome.error = exc.exit_code, str(exc)
        logger.error("%s", exc)
    outcome.api_calls = dict(client.usage.calls)
    return outcome


def _batch(
    settings: Settings,
    connected: Connected,
    mapping: Mapping,
    progress: Progress,
    records: list[dict],
    environ: dict[str, str] | None,
) -> tuple[int, str | None]:
    """One batch in a run session of its own: the lock is held for this batch only. Every batch maps
    with the mapping the command loaded at its start: an edit of the file meanwhile waits for the
    next command, as it waits for the next run."""
    asked = time.monotonic()
    held = asked

    def step(run: Run) -> None:
        nonlocal held
        # the lock is held from here (recovery before it is only a lookup, if any)
        held = time.monotonic()
        stages.process_page(run, records, advance=lambda page: _advance(run.state, progress, page))

    result = stages.cycle(
        settings,
        MODE,
        step,
        environ=environ,
        connected=connected,
        mapping=mapping,
        wait=LOCK_WAIT_SECONDS,
    )
    hold = time.monotonic() - held
    progress.longest_hold_s = round(max(progress.longest_hold_s, hold), 2)
    for name, n in result.counts.items():
        if n and name in (
            "extracted",
            "created",
            "adopted",
            "updated",
            "unchanged",
            "quarantined",
            "lifecycle",
        ):
            progress.counts[name] = progress.counts.get(name, 0) + n
    logger.debug(
        "backfill batch of %d waited %.1fs for the lock and held it %.1fs",
        len(records),
        held - asked,
        hold,
    )
    return result.exit_code, result.error


def _advance(state: State, progress: Progress, records: list[dict]) -> None:
    """Inside the batch's commit: the last Id done, so an interrupted backfill goes on after it."""
    progress.done += len(records)
    progress.after_id = records[-1]["Id"]
    progress.advanced_at = iso(utcnow())
    state.set_meta(KEY, json.dumps(asdict(progress)))


def _finish(settings: Settings, progress: Progress) -> None:
    progress.finished_at = iso(utcnow())
    with _locked_state(settings) as state:
        state.set_meta(KEY, json.dumps(asdict(progress)))


@contextmanager
def _locked_state(settings: Settings) -> Iterator[State]:
    """The state file, opened (which may create and migrate it) and written under the run lock, as
    every writer does (architecture §4): a scheduled run beside the backfill never meets SQLite's
    write lock; one that finds it waits for it (the backfill's own lock is held) instead of exiting
    75."""
    with run_lock(settings, LOCK_WAIT_SECONDS):
        state = State.open(settings.state)
        try:
            yield state
        finally:
            state.close()
