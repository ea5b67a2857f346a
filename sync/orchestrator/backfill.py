"""`psa-sync backfill`: the history of an org — deals closed in a date range — beside the scheduled runs.

A backfill selects by **CloseDate** (a business date), not by SystemModstamp: it never reads or moves
the run's watermark. It reads the range ordered by Id (REST pages, or one Bulk API 2.0 job above
``limits.bulk_threshold`` rows), and processes it in batches of ``BATCH_ROWS`` records, each through
the run's own page step in a run session of its own: the run lock is held for one batch only, so a
scheduled run waits seconds, never hours. Each batch commits, with its results, the Id it reached;
interrupted in any way, the same command continues after that Id.

Every exactly-once rule of a run holds, because the batches go through the same load (intents, look
up before create, adoption): a deal already linked is an update or nothing, a project that already
carries the key is adopted, never a second project.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date

from sync.common.clock import iso, utcnow
from sync.common.errors import ConfigError, SyncError
from sync.config import Settings
from sync.connectors.base import SalesforceApi
from sync.extract.incremental import select_fields
from sync.extract.line_items import bulk_line_items
from sync.extract.soql import and_, to_soql
from sync.extract.soql import field as soql_field
from sync.mapping.model import Mapping
from sync.orchestrator import stages
from sync.orchestrator.session import Connected, make_clients
from sync.state import State
from sync.state.lock import backfill_lock, run_lock

logger = logging.getLogger(__name__)

MODE = "backfill"  # the run mode of its batches
KEY = "backfill"  # meta key: the backfill in progress (JSON), or the last one, finished
DATE_FIELD = "CloseDate"
BATCH_ROWS = 200  # one PSA batch and one sObject Collections call each: a short lock hold
LOCK_WAIT_SECONDS = 900.0  # a batch waits this long for a scheduled run to finish
TURN_PAUSE_SECONDS = (
    0.3  # between batches: a scheduled run waiting for the lock takes its turn here
)
EXAMPLES = 5


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
    examples: dict[str, list] = field(default_factory=dict)
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


def parse_range(since: str | None, until: str | None) -> tuple[date | None, date]:
    """The CloseDate range; until defaults to today (UTC), a missing since means no lower bound (adopt).
    Exit 2 for what is not a range."""
    problems, bounds = [], []
    for name, text in (("--since", since), ("--until", until or utcnow().date().isoformat())):
        try:
            bounds.append(None if text is None else date.fromisoformat(text))
        except ValueError:
            problems.append(f"{name}: {text!r} is not a date; write YYYY-MM-DD")
    if not problems and bounds[0] is not None and bounds[0] > bounds[1]:
        problems.append(f"--since {bounds[0]} is after --until {bounds[1]}; nothing would be read")
    if problems:
        raise ConfigError(problems)
    return bounds[0], bounds[1]


def range_condition(mapping: Mapping, since: date | None, until: date | None, after_id: str | None):
    """The mapping's criteria, the CloseDate range (either bound may be open) and, resuming, the Ids
    after the last one done."""
    closed = soql_field(DATE_FIELD)
    return and_(
        mapping.source.criteria,
        closed.ge(since) if since else None,
        closed.le(until) if until else None,
        soql_field("Id").gt(after_id) if after_id else None,
    )


def range_query(
    mapping: Mapping,
    since: date | None,
    until: date | None,
    after_id: str | None,
    children: bool = True,
) -> str:
    condition = range_condition(mapping, since, until, after_id)
    where = f" WHERE {to_soql(condition)}" if condition is not None else ""
    return f"SELECT {', '.join(select_fields(mapping, children))} FROM {mapping.source.object}{where} ORDER BY Id"


def batches(pages: Iterator[list[dict]], size: int = BATCH_ROWS) -> Iterator[list[dict]]:
    """Read pages (2,000 rows, or a Bulk result set) cut into batches of ``size`` records (a batch, not a
    window: a window is a time range of the run's query; docs/architecture.md, glossary)."""
    for page in pages:
        for start in range(0, len(page), size):
            yield page[start : start + size]


def load_progress(state: State | None) -> Progress | None:
    saved = state.meta(KEY) if state is not None else None
    return Progress(**json.loads(saved)) if saved else None


def begin(state: State | None, since: date, until: date) -> Progress:
    """The backfill to run: the unfinished one of this range (resumed), else a new one. Another range
    while one is unfinished is refused: its cursor would be lost."""
    current = load_progress(state)
    if current is not None and not current.finished:
        if (current.since, current.until) == (since.isoformat(), until.isoformat()):
            return current
        how = "overlaps" if current.overlaps(since, until) else "would lose the cursor of"
        raise ConfigError(
            f"this range {how} an unfinished backfill of {current.since}..{current.until} ({current.done}/"
            f"{current.total} done, last advanced {current.advanced_at}); run `psa-sync backfill --since "
            f"{current.since} --until {current.until}` to finish it first. Nothing was written"
        )
    now = iso(utcnow())
    return Progress(
        since=since.isoformat(), until=until.isoformat(), started_at=now, advanced_at=now
    )


def check_source(mapping: Mapping) -> None:
    if mapping.source.object.lower() != "opportunity":
        raise ConfigError(
            f"backfill selects deals by {DATE_FIELD}, an Opportunity field; the mapping reads "
            f"{mapping.source.object}"
        )


def read_range(
    client: SalesforceApi,
    mapping: Mapping,
    settings: Settings,
    since: date | None,
    until: date | None,
    after_id: str | None = None,
) -> tuple[int, str, Iterator[list[dict]]]:
    """One COUNT() call, then the records of the range after ``after_id``: REST pages, or one Bulk 2.0
    job above ``limits.bulk_threshold``. (how many, "rest" or "bulk", the pages)"""
    condition = range_condition(mapping, since, until, after_id)
    where = to_soql(condition) if condition is not None else None
    count = client.count(mapping.source.object, where, include_deleted=False)
    if count > settings.limits.bulk_threshold:
        deals = client.bulk_query_pages(
            range_query(mapping, since, until, after_id, children=False), include_deleted=False
        )
        return count, "bulk", bulk_line_items(client, mapping, where, deals)
    return (
        count,
        "rest",
        client.query_pages(range_query(mapping, since, until, after_id), include_deleted=False),
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
    reporter=None,
    batch_rows: int = BATCH_ROWS,
    environ: dict[str, str] | None = None,
) -> BackfillReport:
    """Batches through run sessions until the range is done or a batch fails; resumable."""
    check_source(mapping)
    with backfill_lock(
        settings
    ):  # held to the end: the scheduled runs wait for a batch, never exit 75
        return _run(settings, mapping, since, until, reporter, batch_rows, environ)


def _run(
    settings: Settings,
    mapping: Mapping,
    since: date,
    until: date,
    reporter,
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
    environ,
) -> tuple[int, str | None]:
    """One batch in a run session of its own: the lock is held for this batch only. Every batch maps
    with the mapping the command loaded at its start: an edit of the file meanwhile waits for the next
    command, as it waits for the next run."""
    asked = time.monotonic()
    held = asked

    def step(run) -> None:
        nonlocal held
        held = (
            time.monotonic()
        )  # the lock is held from here (recovery before it is only a lookup, if any)
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
    """The state file, opened (which may create and migrate it) and written under the run lock, as every
    writer does (architecture §4): a scheduled run beside the backfill never meets SQLite's write lock;
    one that finds it waits for it (the backfill's own lock is held) instead of exiting 75."""
    with run_lock(settings, LOCK_WAIT_SECONDS):
        state = State.open(settings.state)
        try:
            yield state
        finally:
            state.close()


def dry_run(settings: Settings, mapping: Mapping, since: date, until: date) -> BackfillReport:
    """Read and plan only, through the run's page step over a read-only state: counts and examples."""
    check_source(mapping)
    client, _psa = make_clients(settings)
    client.connect()
    state = State.open_readonly(settings.state)
    progress = Progress(since=since.isoformat(), until=until.isoformat(), started_at=iso(utcnow()))
    outcome = BackfillReport(progress, dry_run=True)
    try:
        for page in read(client, mapping, settings, progress, since, until):
            planned = stages.plan_page(page, mapping, state)
            _tally_plan(outcome, planned)
            progress.done += len(page)
    finally:
        if state is not None:
            state.close()
        outcome.api_calls = dict(client.usage.calls)
    outcome.exit_code = 1 if progress.counts.get("quarantined") else 0
    return outcome


def _tally_plan(outcome: BackfillReport, planned: stages.PagePlan) -> None:
    plan, counts, examples = planned.plan, outcome.progress.counts, outcome.examples
    actions = {
        "created": [{"id": c.row.record_id, "fields": c.row.fields} for c in plan.creates],
        "updated": [
            {"id": u.row.record_id, "changed": u.changed} for u in plan.updates if u.changed
        ],
        "unchanged": [{"id": record_id} for record_id in plan.unchanged],
        "lifecycle": [{"id": c.row.record_id, "status": str(c.status)} for c in plan.lifecycle],
        "quarantined": [{"id": r, "reason": why} for r, why in planned.quarantine.items()],
    }
    for action, items in actions.items():
        counts[action] = counts.get(action, 0) + len(items)
        examples.setdefault(action, []).extend(items[: EXAMPLES - len(examples.get(action, []))])
