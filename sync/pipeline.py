"""run_once(): the only module that knows the order of the stages.

    lock → guard → recover → extract → transform → diff → load → write-back → back-sync → commit

Each page of the query is carried through every stage and committed (snapshot rows, quarantine,
watermark) before the next page is read, so a crash or a budget stop resumes from the last page,
not from the start.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from filelock import FileLock, Timeout

from sync import extract
from sync.backsync import delivery as backsync
from sync.backsync.outbox import WritebackReport, flush
from sync.clock import utcnow
from sync.config import Settings
from sync.connectors.http import build_session
from sync.connectors.psa.base import PsaConnector, get_connector
from sync.connectors.salesforce import SalesforceClient
from sync.diff import plan_changes
from sync.errors import BudgetExceededError, LockHeldError, PsaUnavailable, StateMismatchError, SyncError
from sync.faults import crash_hook
from sync.load import lifecycle
from sync.load.projects import (
    LoadContext,
    LoadReport,
    create_projects,
    link_project,
    settle_unconfirmed,
    update_projects,
)
from sync.mapping.loader import load_mapping
from sync.mapping.model import Mapping
from sync.model import DesiredRow, Facts, Plan, facts_of
from sync.state.store import State
from sync.transform.rows import TransformResult, transform

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_id: int | None
    status: str
    exit_code: int
    counts: dict[str, int] = field(default_factory=dict)
    api_calls: dict[str, int] = field(default_factory=dict)
    org_usage: dict | None = None
    error: str | None = None


@dataclass
class Run:
    """Everything one run needs, built once: the stages receive it instead of globals."""

    settings: Settings
    mapping: Mapping
    state: State
    client: SalesforceClient
    psa: PsaConnector
    run_id: int
    fault: Callable[[str], None]
    facts: dict[str, Facts] = field(default_factory=dict)  # IsWon, IsClosed, Account per deal of this page
    load: LoadReport = field(default_factory=LoadReport)
    writeback: WritebackReport = field(default_factory=WritebackReport)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("extracted", "created", "adopted", "updated", "unchanged", "pending", "lifecycle", "repaired",
         "quarantined", "written", "written_later", "backsync", "conflicts", "unconfirmed"), 0))
    new_failures: int = 0

    @property
    def ctx(self) -> LoadContext:
        options = self.settings.psa.options
        return LoadContext(state=self.state, psa=self.psa, run_id=self.run_id, writeback=self.mapping.writeback,
                           on_create=self.mapping.on_create_fields(), on_closed=options.get("on_closed", "skip"),
                           fault=self.fault, fingerprint=self.mapping.fingerprint,
                           parent_of=self.parent_of if options.get("customer") == "parent_project" else None)

    def parent_of(self, row: DesiredRow):
        """The Account's parent project (found or created once per Account) for ``customer: parent_project``."""
        facts = self.facts.get(row.record_id) or Facts()
        account = facts.account_id
        if not account:
            return None
        name = facts.account_name or row.fields.get("customer") or account
        return self.psa.ensure_parent(account, name, fields={"billing_type": row.fields.get("billing_type")})


@contextmanager
def run_lock(settings: Settings):
    """A second run that finds the lock held exits 75 at once: cron and systemd must never stack runs."""
    settings.state.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise LockHeldError(f"another psa-sync run holds {settings.lock_path}; this run did nothing") from None
    try:
        yield
    finally:
        lock.release()


def connect(settings: Settings) -> tuple[SalesforceClient, PsaConnector]:
    sf_session = build_session(ca_bundle=settings.salesforce.ca_bundle, timeout=settings.http.timeout,
                               retries=settings.http.retries)
    client = SalesforceClient(settings.salesforce, sf_session,
                              max_org_api_percent=settings.limits.max_org_api_percent,
                              max_calls_per_run=settings.limits.max_calls_per_run)
    psa_session = build_session(ca_bundle=None, timeout=settings.http.timeout, retries=settings.http.retries)
    factory = get_connector(settings.psa.connector)
    psa = factory(settings.psa.url, settings.psa.api_key.get(), settings.psa.options, psa_session)
    return client, psa


def guard(state: State, org_id: str, psa_url: str, state_path: Any) -> None:
    """Refuse a state file made against another org or PSA (a sandbox keeps production's record Ids)."""
    for key, now in (("org_id", org_id), ("psa_url", psa_url)):
        was = state.meta(key)
        if was is None:
            state.set_meta(key, now)
        elif was != now:
            what = "Salesforce org" if key == "org_id" else "PSA"
            raise StateMismatchError(
                f"the state file {state_path} was made against {what} {was}, but this config reaches {now}. "
                "Use one state file per org and PSA; nothing was changed")


def run_once(settings: Settings, *, mode: str = "run", retry_ids: Iterable[str] | None = None,
             environ: dict[str, str] | None = None) -> RunResult:
    """One cycle. Raises only LockHeldError and config errors found before a run row exists."""
    environ = dict(os.environ if environ is None else environ)
    mapping = load_mapping(settings.mapping)
    with run_lock(settings):
        state = State.open(settings.state)
        state.mark_abandoned()
        run_id = state.start_run(mode)
        client = None
        result = RunResult(run_id=run_id, status="failed", exit_code=1)
        run: Run | None = None
        try:
            client, psa = connect(settings)
            client.connect()
            fault = crash_hook(environ)
            fault("after-token")
            guard(state, client.org_id, psa.url, settings.state)
            state.set_meta("mapping_fingerprint", mapping.fingerprint)
            run = Run(settings, mapping, state, client, psa, run_id, fault)
            _stages(run, retry_ids)
            result.status, result.exit_code = ("ok", 0) if run.new_failures == 0 else ("failures", 1)
        except SyncError as exc:
            result.status = "stopped" if isinstance(exc, BudgetExceededError) else "failed"
            result.exit_code, result.error = exc.exit_code, str(exc)
            logger.error("%s", exc)
        finally:
            if run is not None:
                result.counts = {**run.counts, "new_failures": run.new_failures}
            if client is not None:
                result.api_calls = dict(client.usage.calls)
                result.org_usage = {"used": client.usage.org_used, "max": client.usage.org_max}
            state.finish_run(run_id, status=result.status, exit_code=result.exit_code, counts=result.counts,
                             api_calls=result.api_calls, org_usage=result.org_usage, error=result.error)
            state.close()
        _log_summary(result)
        return result


def _stages(run: Run, retry_ids: Iterable[str] | None) -> None:
    try:
        recover(run)
        run.fault("after-recover")
        if retry_ids is not None:
            for records in extract.fetch_ids(run.client, run.mapping, retry_ids):
                process_page(run, records, advance=False)
        else:
            sync_changes(run)
        settle(run)
        backsync.run(run)
        run.fault("after-backsync")
        unconfirmed(run)
    finally:
        final_flush(run)


def settle(run: Run) -> None:
    """The end-of-run retry of writes the PSA left unconfirmed (see ``load.settle_unconfirmed``)."""
    settle_unconfirmed(run.ctx, run.load, run.psa.identifier)
    _tally_load(run)


def unconfirmed(run: Run) -> None:
    """A write the PSA never confirmed must not end in exit 0: the deal is not in the PSA yet (or not
    up to date). Its intent is committed, so the next run looks it up first and finishes it."""
    pending = sorted(run.load.unknown)  # settle() left only what is still open
    run.counts["unconfirmed"] = len(pending)
    if pending:
        shown = ", ".join(pending[:5]) + (f" and {len(pending) - 5} more" if len(pending) > 5 else "")
        raise PsaUnavailable(
            f"the PSA neither confirmed nor refused {len(pending)} write(s) after retrying (5xx or no answer): "
            f"{shown}; the next run looks them up before anything else and finishes them")


def final_flush(run: Run) -> None:
    """Send what the outbox holds, even after an error, unless the budget itself is the problem."""
    try:
        if run.client.budget_left():
            flush(run.state, run.client, run.mapping.source.object, run.run_id, full_only=False,
                  report=run.writeback, fault=run.fault)
    except SyncError as exc:
        logger.warning("write-back left pending for the next run: %s", exc)
        raise
    finally:
        run.counts["written"] = run.writeback.written
        run.counts["written_later"] = run.writeback.retry_later
        _count_new(run, run.writeback.failed)
    if run.writeback.retry_later:
        logger.warning("Salesforce refused %d write-back(s) for now (a row lock or another transient error); "
                       "they stay in the outbox and the next run sends them again", run.writeback.retry_later)


def sync_changes(run: Run) -> None:
    """Extract → transform → diff → load, page by page, committing the watermark per page."""
    state, mapping = run.state, run.mapping
    signpost = signpost_of(run.client.server_time)
    start = extract.since(state.watermark(extract.STREAM), mapping)
    soql = extract.build_query(mapping, start=start, signpost=signpost, extra_ids=_unsettled_links(run))
    for records in extract.pages(run.client, soql):
        process_page(run, records, advance=True)
        run.fault("after-page")
        flush(state, run.client, mapping.source.object, run.run_id, full_only=True, report=run.writeback,
              fault=run.fault)
    with state.transaction():
        state.commit_page(extract.STREAM, max(signpost, start))


def signpost_of(server_time: datetime) -> datetime:
    """The end of the second Salesforce's `Date` header names: the header drops the milliseconds, and a
    row stamped earlier in that second is already visible. Rows that commit later are the lookback's job."""
    return server_time.replace(microsecond=0) + timedelta(milliseconds=999)


def _unsettled_links(run: Run) -> set[str]:
    """Linked deals whose link write-back has not landed: the link field cannot bring them back."""
    linked = set(run.state.links(run.state.outbox_ids()))
    return linked | {q["opportunity_id"] for q in run.state.quarantined() if q["stage"] == "write-back"}


def process_page(run: Run, records: list[dict], *, advance: bool) -> None:
    state, mapping = run.state, run.mapping
    run.counts["extracted"] += len(records)
    result = transform(records, mapping)
    links = state.links([r.record_id for r in result.rows] + [e.record_id for e in result.errors])
    rows = result.rows + _lifecycle_only_rows(result, links)
    run.facts = facts_of(records)
    plan = plan_changes(rows, links, writeback=mapping.writeback, on_create=mapping.on_create_fields(),
                        pending=state.outbox_fields(), facts=run.facts)
    create_projects(run.ctx, plan.creates, run.psa.identifier, run.load)
    update_projects(run.ctx, plan.updates, run.load)
    lifecycle.apply(run.ctx, plan.lifecycle, mapping.lifecycle, run.load)
    _tally(run, plan)
    with state.transaction():
        for oid, values in plan.repairs.items():
            state.queue(oid, values)
            state.event(run.run_id, oid, "repair", "queued", {"fields": values})
        _quarantine_errors(run, result, links)
        state.mark_mapping(plan.unchanged, mapping.fingerprint)
        if advance:
            run.fault("before-commit")
            state.commit_page(extract.STREAM, extract.page_watermark(records))


def _lifecycle_only_rows(result: TransformResult, links: dict) -> list[DesiredRow]:
    """A linked deal that left the criteria still needs its lifecycle, even if its fields no longer map."""
    rows = []
    for error in result.errors:
        link = links.get(error.record_id)
        if link is not None and (error.deleted or not error.matches):
            rows.append(DesiredRow(record_id=error.record_id, key=error.key, modstamp=error.modstamp,
                                   deleted=error.deleted, matches=False, fields=dict(link.payload),
                                   record_links={}))
    return rows


def _quarantine_errors(run: Run, result: TransformResult, links: dict) -> None:
    failed: dict[str, str] = {}
    for error in result.errors:
        if error.deleted or not error.matches:
            continue
        if error.record_id in failed:
            failed[error.record_id] += f"; {error.reason}"
        else:
            failed[error.record_id] = error.reason
    payloads = {e.record_id: e.payload for e in result.errors}
    fresh = {}
    for oid, reason in failed.items():
        old = [q for q in run.state.quarantined(oid) if q["stage"] == "transform"]
        if not old or old[0]["error"] != reason:
            fresh[oid] = reason
        run.state.quarantine(oid, "transform", reason, payloads[oid], run.run_id)
        run.state.event(run.run_id, oid, "transform", "quarantined", {"error": reason})
    run.counts["quarantined"] += len(failed)
    run.new_failures += len(fresh)


def _tally(run: Run, plan: Plan) -> None:
    run.counts["unchanged"] += len(plan.unchanged)
    run.counts["lifecycle"] += len(plan.lifecycle)
    run.counts["repaired"] += len(plan.repairs)
    _tally_load(run)


def _tally_load(run: Run) -> None:
    report = run.load
    run.counts.update(created=len(report.created), adopted=len(report.adopted), updated=len(report.updated),
                      pending=len(report.pending))
    _count_new(run, report.failed)
    report.failed = {}


def _count_new(run: Run, failed: dict[str, str]) -> None:
    run.counts["quarantined"] += len(failed)
    run.new_failures += len(failed)


def recover(run: Run) -> None:
    """Resolve creates that were started but never recorded (the process died after the PSA's 201), and
    updates whose outcome was unknown."""
    intents = run.state.intents()
    if not intents:
        return
    refetch = [i.record_id for i in intents if i.action == "update"]  # re-fetched, diffed, re-sent
    creates = [i for i in intents if i.action != "update"]
    found = run.psa.find([i.key for i in creates]) if creates else {}
    for intent in creates:
        refs = found.get(intent.key, [])
        ours = [r for r in refs if r.identifier == run.psa.identifier(intent.key)]
        if ours:
            row = DesiredRow(record_id=intent.record_id, key=intent.key, modstamp=utcnow(),
                             deleted=False, matches=True, fields=intent.payload, record_links={})
            link_project(run.ctx, row, ours[0], intent.payload, "recover", "linked")
            run.load.created.append(row.record_id)
        else:  # never sent, or rolled back: re-fetch the deal and let this run create it afresh
            with run.state.transaction():
                run.state.event(run.run_id, intent.record_id, "recover", "not-found", None)
            refetch.append(intent.record_id)
    run.fault("before-refetch")
    for records in extract.fetch_ids(run.client, run.mapping, refetch):
        process_page(run, records, advance=False)
    # Only now, after processing: an intent dropped before its deal was re-fetched would lose the deal
    # to a crash in between (its stamp may be long behind the watermark). A crash before this line only
    # means one more look-up and re-fetch. Intents this run re-opened carry its run id and stay.
    with run.state.transaction():
        run.state.drop_stale_intents(before_run=run.run_id)


def _log_summary(result: RunResult) -> None:
    counts = " ".join(f"{k}={v}" for k, v in result.counts.items())
    calls = sum(result.api_calls.values())
    usage = result.org_usage or {}
    logger.info("run finished status=%s exit=%s %s sf_calls=%s org_usage=%s/%s", result.status,
                result.exit_code, counts, calls, usage.get("used"), usage.get("max"))
