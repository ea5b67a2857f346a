"""The only module that knows the order of the stages.

    run session:  lock → state → run row → connect → guard → Run … catch → record usage → finish
    a run:        recover → pages → settle → back-sync → unconfirmed, then the final write-back
    a page step:  transform → links → lifecycle-only rows → diff  (= plan_page: what `plan` shows)
                  → load → commit (snapshot rows, quarantine, watermark)

Every writing command opens a :func:`run_session`: ``run``, ``retry``, ``backfill``'s windows, the
daemon's cycles, ``adopt``, ``link`` and ``unlink`` through :func:`cycle` (recover → their own step
→ settle → unconfirmed → write-back), ``reconcile`` directly. Pages go through :func:`process_page`,
each committed before the next is read, so a crash or a budget stop resumes from the last page;
``plan`` calls :func:`plan_page` and writes nothing. See docs/architecture.md.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import Any

from sync.backsync import delivery
from sync.common.errors import SyncError
from sync.common.model import facts_of
from sync.config import Settings
from sync.connectors.base import SalesforceApi
from sync.extract import incremental
from sync.load import children, lifecycle
from sync.load.projects import create_projects
from sync.load.recover import forget_settled_intents, resolve_intents
from sync.load.updates import update_projects
from sync.mapping.loader import load_mapping
from sync.mapping.model import Mapping
from sync.orchestrator.closing import final_flush, settle, unconfirmed
from sync.orchestrator.run import PagePlan, Run
from sync.orchestrator.session import Connected, RunResult, Session, after_failure
from sync.state import DatabaseError, State, pipeline_rows
from sync.state.files import translate
from sync.state.lock import run_lock
from sync.transform import pipeline_stream
from sync.transform.diff import lifecycle_only_rows, plan_changes, to_quarantine
from sync.transform.rows import transform
from sync.transform.structure import page_structures

logger = logging.getLogger(__name__)


# --- the run session ------------------------------------------------------------------------------


@contextmanager
def run_session(
    settings: Settings,
    mode: str,
    *,
    environ: dict[str, str] | None = None,
    conclude: Callable[[Session], tuple[str, int, dict[str, int]]] | None = None,
    connected: Connected | None = None,
    wait: float = 0,
    mapping: Mapping | None = None,
    checkpoint: Callable[[str], None] | None = None,
) -> Iterator[Session]:
    """Lock, open the state, start a run row; on the way out record how it ended and its API usage.

    ``conclude(session) -> (status, exit_code, counts)`` lets an entry point with its own report
    (reconcile) decide those; by default they come from the run's counts and error. ``connected``
    re-uses clients across sessions (a backfill's windows, the daemon's cycles: one token, not one
    per run); ``wait`` is how long to wait for the lock (a scheduled run waits 0 and exits 75);
    ``mapping`` is one already loaded (the daemon's, kept until SIGHUP), else the config's file is
    read; ``checkpoint`` is called at every crash point (the daemon stops there on SIGTERM). Raises
    only LockHeldError and config errors found before a run row exists.
    """
    environ = dict(os.environ if environ is None else environ)
    mapping = mapping or load_mapping(settings.mapping)
    with run_lock(settings, wait):
        state = State.open(settings.state)
        try:
            try:
                state.mark_abandoned()  # a run still 'running' while the lock was free died mid-way
                session = Session(
                    settings,
                    mapping,
                    state,
                    mode,
                    state.start_run(mode),
                    environ,
                    connected=connected,
                    checkpoint=checkpoint,
                )
            except DatabaseError as exc:
                raise translate(settings.state, exc) from exc
            try:
                yield session
            except SyncError as exc:
                session.fail(exc)
            # the state file's disk, mid-run: the commit points kept it whole
            except DatabaseError as exc:
                session.fail(translate(settings.state, exc))
            except BaseException as exc:
                session.aborted = exc
                raise
            finally:
                session.finish(*(conclude or Session.conclusion)(session))
        finally:
            state.close()


def run_once(
    settings: Settings,
    *,
    mode: str = "run",
    retry_ids: Iterable[str] | None = None,
    environ: dict[str, str] | None = None,
    **kept: Any,
) -> RunResult:
    """One cycle of ``run`` (or ``retry`` of the named records; a deal retried by name is no longer
    ignored, so one unlinked by hand gets a project again). ``kept``: what a daemon keeps across its
    cycles (``connected``, ``mapping``, ``checkpoint``; see :func:`run_session`)."""

    def changes(run: Run) -> None:
        if retry_ids is None:
            return sync_changes(run)
        run.state.readmit(retry_ids, run.run_id, "retry")
        for records in incremental.fetch_ids(run.client, run.mapping, retry_ids):
            process_page(run, records)

    result = cycle(settings, mode, changes, environ=environ, backsync=True, **kept)
    result.log_summary()
    return result


def cycle(
    settings: Settings,
    mode: str,
    step: Callable[[Run], None],
    *,
    backsync: bool = False,
    environ: dict[str, str] | None = None,
    **kept: Any,
) -> RunResult:
    """The frame of every writing command: recover → ``step`` (a run's window, a backfill's window,
    an adoption) → settle → back-sync (a run) → unconfirmed, then the final write-back, in a run
    session. ``kept``: ``connected``, ``wait``, ``mapping``, ``checkpoint`` (see
    :func:`run_session`)."""
    with run_session(settings, mode, environ=environ, **kept) as session:
        run = session.start()
        try:
            recover(run)
            run.fault("after-recover")
            step(run)
            settle(run)
            if backsync:
                delivery.run(run)
                run.fault("after-backsync")
            unconfirmed(run)
        except BaseException:
            after_failure(final_flush, run)
            raise
        final_flush(run)
    assert session.result is not None  # finish() records it on every way out that does not raise
    return session.result


# --- the page step --------------------------------------------------------------------------------


def plan_page(records: list[dict], mapping: Mapping, state: State | None) -> PagePlan:
    """Transform → links → lifecycle-only rows → diff, reading (never writing) the state."""
    result, tentative = transform(records, mapping), mapping.tentative is not None
    mapped, failed, structures = page_structures(result.rows, records, mapping, tentative)
    # a deal whose plan cannot be made is quarantined like a bad field
    errors = result.errors + failed
    ids = [r.record_id for r in mapped] + [e.record_id for e in errors]
    links = state.links(ids) if state is not None else {}
    rows = mapped + lifecycle_only_rows(errors, links, tentative)
    facts = facts_of(records)
    plan = plan_changes(
        rows,
        links,
        writeback=mapping.writeback,
        on_create=mapping.on_create_fields(),
        pending=state.outbox_fields(ids) if state is not None else set(),
        facts=facts,
        ignored=set(state.ignored(ids)) if state is not None else set(),
        tentative=tentative,
    )
    pipeline = (
        pipeline_stream.stream_rows(records, mapped, errors, facts, pipeline_rows.known(state, ids))
        if mapping.pipeline is not None
        else []
    )
    return PagePlan(
        plan=plan,
        facts=facts,
        errors=errors,
        links=links,
        pipeline=pipeline,
        quarantine=to_quarantine(errors, tentative),
        structures=structures,
    )


def process_page(
    run: Run, records: list[dict], *, advance: Callable[[list[dict]], None] | None = None
) -> None:
    """One page through every stage, committed as one: snapshot rows, quarantine and ``advance``
    (where the reader goes on: the run's window and watermark, a backfill's cursor). Re-fetched or
    retried records have nowhere to advance."""
    state = run.state
    run.counts["extracted"] += len(records)
    page = plan_page(records, run.mapping, state)
    run.facts = page.facts
    children.mark_plans(run.ctx, page.structures, page.plan.creates)
    create_projects(run.ctx, page.plan.creates, run.psa.identifier, run.load)
    update_projects(run.ctx, page.plan.updates, run.load)
    lifecycle.apply(run.ctx, page.plan.lifecycle, run.mapping.lifecycle, run.load)
    rules = run.mapping.structure
    children.apply(
        run.ctx, page.structures, rules.line_items if rules is not None else None, run.children
    )
    run.tally(page.plan, page.pipeline)
    with state.transaction():
        state.queue_all(page.plan.repairs.items())
        state.add_events(
            run.run_id,
            ((rid, "repair", "queued", {"fields": v}) for rid, v in page.plan.repairs.items()),
        )
        run.quarantine_transform(page.quarantine, {e.record_id: e.payload for e in page.errors})
        state.mark_mapping(page.plan.unchanged, run.mapping.fingerprint)
        pipeline_rows.save(state, page.pipeline, run.run_id)
        if advance is not None:
            run.fault("before-commit")
            advance(records)


# --- the stages of a run, in order ----------------------------------------------------------------


def recover(run: Run) -> None:
    """Settle what earlier runs left in doubt before anything else (see ``load.recover``)."""
    refetch = resolve_intents(run)
    if refetch is None:
        return
    run.fault("before-refetch")
    for records in incremental.fetch_ids(run.client, run.mapping, refetch):
        process_page(run, records)
    forget_settled_intents(run)


def _advance(state: State, window: incremental.Window, records: list[dict]) -> None:
    """Inside a page's commit: where its window goes on, and the watermark (only ever forward)."""
    state.set_meta(incremental.WINDOW, json.dumps(window.past(records).to_json()))
    state.commit_page(incremental.STREAM, incremental.page_watermark(records))


def server_time(client: SalesforceApi) -> datetime:
    """Salesforce's clock, which ``connect()`` sets: the signpost of a run's windows."""
    if client.server_time is None:
        raise RuntimeError("the Salesforce client is not connected: connect() it before reading")
    return client.server_time


def next_run_pages(
    client: SalesforceApi, mapping: Mapping, state: State | None
) -> Iterator[list[dict]]:
    """The pages the next run reads, in its order: the records recovery re-fetches, then the windows
    (what ``plan`` feeds to the page step)."""
    intents = state.intents() if state is not None else []
    yield from incremental.fetch_ids(client, mapping, [i.record_id for i in intents])
    for window in incremental.windows(state, mapping, server_time(client)):
        yield from incremental.pages(client, incremental.window_query(state, mapping, window))


def sync_changes(run: Run) -> None:
    """Extract → page step, page by page, each page committing where its window goes on; a window
    read to its end moves the watermark to its signpost and closes. The outbox is sent once, at the
    end (``final_flush``): a new deal's link and its first back-sync values then share one write,
    where sending full batches as the pages went wrote each new deal twice (issue 14's call
    economy)."""
    state, mapping = run.state, run.mapping
    for window in incremental.windows(state, mapping, server_time(run.client)):
        for records in incremental.pages(
            run.client, incremental.window_query(state, mapping, window)
        ):
            process_page(run, records, advance=partial(_advance, state, window))
            run.fault("after-page")
        amended = incremental.build_amendment_query(
            mapping, start=window.start, signpost=window.signpost
        )
        for records in incremental.pages(run.client, amended) if amended else ():
            process_page(run, records)  # before the window closes: a crash here reads them again
        with state.transaction():
            state.commit_page(incremental.STREAM, max(window.signpost, window.start))
            state.set_meta(incremental.WINDOW, "")
