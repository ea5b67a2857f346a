"""`psa-sync reconcile [--repair]`: check the invariants against both systems, report or repair drift.

A run trusts its watermark: a deal it never saw, a project a person copied or deleted, a link field
cleared long ago are invisible to it. Reconcile looks at the whole picture once, cheaply — one token,
⌈matching/2000⌉ Id-only query pages, ⌈linked/300⌉ queryAll calls, ⌈projects/100⌉ PSA listings:

1. criteria sweep: every deal matching the criteria since ``start_date`` is linked or quarantined;
2. existence sweep of the linked Ids (queryAll): hard deletes, unflagged deletes, link fields;
3. PSA sweep (``list_linked``): orphans, duplicates, missing projects, projects that lost their key.

The rules live in :mod:`sync.reconcile.drift` (pure). ``--repair`` fixes what it safely can,
through the pipeline's own functions under the run lock: missed deals and orphans' deals are
re-fetched by Id and processed exactly as a run would (the create path looks the key up first and
adopts), hard-deleted deals get the ``on_deleted`` policy, link fields go through the outbox and the
normal write-back, a missing project's link is dropped and its deal re-fetched. Duplicates, and
orphans whose deal is outside the criteria, are only reported: psa-sync never deletes anything.
The watermark never moves.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sync import extract, pipeline
from sync.clock import utcnow
from sync.config import Settings
from sync.connectors.psa.base import ProjectChange
from sync.errors import BudgetExceededError, SyncError
from sync.faults import crash_hook
from sync.load import lifecycle
from sync.load.projects import ref_of
from sync.mapping.loader import load_mapping
from sync.model import DesiredRow, LifecycleChange, Link
from sync.reconcile.drift import (
    KINDS,
    SWEEP_PAGE,
    Drift,
    Known,
    Observed,
    Seen,
    criteria_query,
    existence_queries,
    expected_calls,
    field_of,
    find_drift,
    in_next_run,
    stamp_of,
)
from sync.state import State

logger = logging.getLogger(__name__)

JSON_VERSION = 1
EXAMPLES = 50  # examples listed per kind of drift


@dataclass
class ReconcileReport:
    """What reconcile found and did; ``to_json()`` is versioned, ``text()`` is for a person."""

    repair: bool
    run_id: int | None = None
    drift: list[Drift] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    api_calls: dict[str, int] = field(default_factory=dict)
    org_usage: dict | None = None
    repair_counts: dict[str, int] = field(default_factory=dict)
    new_failures: int = 0
    error: str | None = None
    error_code: int | None = None

    @property
    def remaining(self) -> list[Drift]:
        return [d for d in self.drift if d.status != "repaired"]

    @property
    def exit_code(self) -> int:
        if self.error_code is not None:
            return self.error_code
        return 1 if self.remaining or self.new_failures else 0

    @property
    def status(self) -> str:
        if self.error_code is not None:
            return "stopped" if self.error_code == BudgetExceededError.exit_code else "failed"
        return "drift" if self.exit_code else "ok"

    def by_kind(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            items = [d for d in self.drift if d.kind == kind]
            statuses = Counter(d.status for d in items)
            out[kind] = {"found": len(items), "repaired": statuses["repaired"],
                         "remaining": len(items) - statuses["repaired"],
                         "examples": [d.to_json() for d in items[:EXAMPLES]]}
        return out

    def to_json(self) -> dict[str, Any]:
        return {"version": JSON_VERSION, "run_id": self.run_id, "repair": self.repair, "status": self.status,
                "exit_code": self.exit_code, "consistent": not self.drift, "checked": self.checked,
                "drift": self.by_kind(), "remaining": len(self.remaining),
                "salesforce_calls": {"total": sum(self.api_calls.values()), "by_endpoint": self.api_calls},
                "org_usage": self.org_usage, "repair_run": self.repair_counts, "error": self.error}

    def text(self) -> str:
        c = self.checked
        mode = "repair" if self.repair else "report only"
        lines = [f"reconcile ({mode}): {len(self.drift)} drifted, {len(self.remaining)} remaining — "
                 f"{c.get('matching', '?')} deals match the criteria, {c.get('linked', '?')} links, "
                 f"{c.get('projects', '?')} PSA projects with a key, {c.get('next_run', 0)} left to the next run"]
        for kind, summary in self.by_kind().items():
            if not summary["found"]:
                continue
            lines.append(f"  {kind:<18} {summary['found']} found, {summary['repaired']} repaired: {KINDS[kind]}")
            lines += _examples(summary["examples"], show_status=self.repair)
        calls = ", ".join(f"{k} {v}" for k, v in sorted(self.api_calls.items())) or "none"
        usage = self.org_usage or {}
        lines.append(f"  Salesforce calls: {sum(self.api_calls.values())} ({calls}); org usage "
                     f"{usage.get('used', '?')}/{usage.get('max', '?')}")
        if self.repair_counts:
            lines.append("  repair: " + ", ".join(f"{k} {v}" for k, v in self.repair_counts.items()))
        if self.error:
            lines.append(f"  error: {self.error}")
        elif not self.drift:
            lines.append("  consistent: every invariant holds")
        elif self.remaining and not self.repair:
            lines.append("  `psa-sync reconcile --repair` fixes what can be fixed safely")
        return "\n".join(lines)


def _examples(examples: list[dict], *, show_status: bool) -> list[str]:
    """One line per example with a detail; bare Ids four to a line."""
    lines, bare = [], []
    for item in examples:
        who = item["id"] or f"key {item['key']}"
        status = f"  [{item['status']}]" if show_status else ""
        if item["detail"]:
            lines.append(f"      {who}  {item['detail']}{status}")
        else:
            bare.append(f"{who}{status}")
    lines += ["      " + "  ".join(bare[i:i + 4]) for i in range(0, len(bare), 4)]
    return lines


def reconcile(settings: Settings, *, repair: bool = False, environ: dict[str, str] | None = None) -> ReconcileReport:
    """Check (and with ``repair`` fix) the invariants; raises only LockHeldError and early config errors."""
    environ = dict(os.environ if environ is None else environ)
    mapping = load_mapping(settings.mapping)
    report = ReconcileReport(repair=repair)
    with pipeline.run_lock(settings):
        state = State.open(settings.state)
        state.mark_abandoned()  # a run still 'running' while the lock was free died mid-way
        report.run_id = state.start_run("reconcile")
        client = run = None
        try:
            client, psa = pipeline.connect(settings)
            client.connect()
            pipeline.guard(state, client.org_id, psa.url, settings.state)
            run = pipeline.Run(settings=settings, mapping=mapping, state=state, client=client, psa=psa,
                               run_id=report.run_id, fault=crash_hook(environ))
            if repair:
                pipeline.recover(run)  # intents first, exactly as a run starts
            report.drift, report.checked = check(run)
            if repair and report.drift:
                repair_drift(run, report.drift)
        except SyncError as exc:
            report.error, report.error_code = str(exc), exc.exit_code
            logger.error("%s", exc)
        finally:
            _finish(report, state, client, run)
    return report


def _finish(report: ReconcileReport, state: State, client, run) -> None:
    if run is not None and report.repair and report.drift:
        settle(state, report.drift, run.mapping.fingerprint)
    if run is not None:
        report.repair_counts = {k: v for k, v in run.counts.items() if v}
        report.new_failures = run.new_failures
    if client is not None:
        report.api_calls = dict(client.usage.calls)
        report.org_usage = {"used": client.usage.org_used, "max": client.usage.org_max}
    counts = {**{f"drift_{k}": v["found"] for k, v in report.by_kind().items() if v["found"]},
              "drift_remaining": len(report.remaining), **report.repair_counts}
    state.finish_run(report.run_id, status=report.status, exit_code=report.exit_code, counts=counts,
                     api_calls=report.api_calls, org_usage=report.org_usage, error=report.error)
    state.close()
    logger.info("reconcile finished status=%s exit=%s drift=%d remaining=%d sf_calls=%d", report.status,
                report.exit_code, len(report.drift), len(report.remaining), sum(report.api_calls.values()))


# --- the sweeps ---------------------------------------------------------------------------------------


def check(run: pipeline.Run) -> tuple[list[Drift], dict[str, int]]:
    """Sweep both systems and compare with the state: (drift, what was checked)."""
    state, mapping = run.state, run.mapping
    links = {link.record_id: link for link in state.all_links()}
    matching = sweep_criteria(run.client, mapping)
    existing = sweep_existence(run.client, mapping, links)
    projects = run.psa.list_linked()
    listed = {p.id for p in projects}
    unlisted = [link for link in links.values() if link.project_id not in listed]
    found = run.psa.read([ref_of(link) for link in unlisted]) if unlisted else {}
    observed = Observed(matching=matching, existing=existing, projects=projects,
                        present={link.project_id for link in unlisted if link.key in found})
    known = Known(quarantined={q["opportunity_id"] for q in state.quarantined()},
                  pending=state.outbox_fields(),
                  intents={i.record_id for i in state.intents()},
                  since=extract.since(state.watermark(extract.STREAM), mapping))
    drift = find_drift(observed, links, known, writeback=mapping.writeback, identifier_of=run.psa.identifier,
                       key_is_id=mapping.key.lower() == "id")
    drift += old_mapping(state, mapping, existing, {d.record_id for d in drift})
    next_run = sum(1 for oid, row in matching.items()
                   if oid not in links and oid not in known.quarantined and in_next_run(row.stamp, known))
    checked = {"matching": len(matching), "linked": len(links), "projects": len(projects), "next_run": next_run,
               "quarantined": len(known.quarantined),
               "expected_salesforce_calls": expected_calls(len(matching), len(links))}
    return drift, checked


def old_mapping(state: State, mapping, existing: dict[str, dict], skip: set[str | None]) -> list[Drift]:
    """Links made with another mapping: --repair re-fetches them and the diff pushes what changed."""
    return [Drift(kind="old-mapping", record_id=oid, key=oid, detail="mapped with an older mapping",
                  repair="refetch")
            for oid in state.older_mapping(mapping.fingerprint) if oid in existing and oid not in skip]


def sweep_criteria(client, mapping) -> dict[str, Seen]:
    """Id → (key, stamp) of every live record matching the criteria since start_date."""
    found: dict[str, Seen] = {}
    key_is_id = mapping.key.lower() == "id"
    for page in client.query_pages(criteria_query(mapping), include_deleted=False, batch_size=SWEEP_PAGE):
        for record in page:
            key = record["Id"] if key_is_id else str(field_of(record, mapping.key) or "")
            found[record["Id"]] = Seen(key=key, stamp=stamp_of(record))
    return found


def sweep_existence(client, mapping, links: dict[str, Link]) -> dict[str, dict]:
    """Id → record for every linked Id Salesforce still has (deleted ones included: queryAll)."""
    existing: dict[str, dict] = {}
    for soql in existence_queries(mapping, links):
        for page in client.query_pages(soql, include_deleted=True):
            existing.update((record["Id"], record) for record in page)
    return existing


# --- the repairs --------------------------------------------------------------------------------------


def repair_drift(run: pipeline.Run, drift: list[Drift]) -> None:
    """Fix what can be fixed safely; re-fetched deals go through the run's own page processing."""
    links = run.state.links({d.record_id for d in drift if d.record_id})
    refetch: set[str] = set()
    try:
        _flag_deleted(run, [d for d in drift if d.repair == "lifecycle"], links)
        for item in drift:
            link = links.get(item.record_id) if item.record_id else None
            if item.repair == "drop-link" and link is not None:
                _drop_link(run, item, link)
                refetch.add(item.record_id)
            elif item.repair == "restore-key" and link is not None:
                _restore_key(run, item, link)
            elif item.repair == "queue":
                with run.state.transaction():
                    run.state.queue(item.record_id, item.values)
                    run.state.event(run.run_id, item.record_id, "reconcile", "repair-queued", {"fields": item.values})
            elif item.repair == "refetch" and item.record_id:
                refetch.add(item.record_id)
        for records in extract.fetch_ids(run.client, run.mapping, refetch):
            pipeline.process_page(run, records, advance=False)
        pipeline.settle(run)
        pipeline.unconfirmed(run)
    finally:
        pipeline.final_flush(run)


def _flag_deleted(run: pipeline.Run, items: list[Drift], links: dict[str, Link]) -> None:
    """A purged deal never comes back in a query: apply ``on_deleted`` as a run would for a deleted row."""
    changes = []
    for item in items:
        link = links.get(item.record_id)
        if link is None:
            continue
        row = DesiredRow(record_id=link.record_id, key=link.key, modstamp=utcnow(), deleted=True,
                         matches=False, fields=dict(link.payload), record_links={})
        changes.append(LifecycleChange(row, link, "Deleted"))
    lifecycle.apply(run.ctx, changes, run.mapping.lifecycle, run.load)
    run.counts["lifecycle"] += len(changes)
    with run.state.transaction():
        for change in changes:  # nothing can be written to a record that no longer exists
            run.state.drop_outbox(change.link.record_id)
            run.state.event(run.run_id, change.link.record_id, "reconcile", "hard-deleted",
                            {"project_id": change.link.project_id})


def _drop_link(run: pipeline.Run, item: Drift, link: Link) -> None:
    """The project is gone: forget the link, so the re-fetched deal is created again if it still matches."""
    with run.state.transaction():
        run.state.drop_link(link.record_id)
        run.state.drop_outbox(link.record_id)
        run.state.event(run.run_id, link.record_id, "reconcile", "link-dropped",
                        {"project_id": link.project_id, "reason": item.detail})


def _restore_key(run: pipeline.Run, item: Drift, link: Link) -> None:
    """A linked project lost its key: write it back, or the duplicate guard cannot see the project."""
    result = run.psa.update([ProjectChange(ref=ref_of(link), fields={"key": link.key})])[0]
    item.status = "repaired" if result.outcome in ("updated", "unchanged") else "remaining"
    run.state.event(run.run_id, link.record_id, "reconcile", f"key-{item.status}",
                    {"project_id": link.project_id, "error": result.error})


def settle(state: State, drift: list[Drift], fingerprint: str | None = None) -> None:
    """After the repairs: read the state again and mark each drift repaired, quarantined or remaining."""
    links = {link.record_id: link for link in state.all_links()}
    keys = {link.key for link in links.values()}
    quarantined = {q["opportunity_id"] for q in state.quarantined()}
    pending = state.outbox_fields()
    for item in drift:
        if item.status == "found":
            item.status = outcome(item, links, keys, quarantined, pending, fingerprint)


def outcome(item: Drift, links: dict[str, Link], keys: set[str], quarantined: set[str],
            pending: set[tuple[str, str]], fingerprint: str | None = None) -> str:
    """Whether one drift is gone now (pure)."""
    link = links.get(item.record_id) if item.record_id else None
    if item.repair is None:
        return "remaining"
    if item.kind == "orphan":
        return "repaired" if item.key in keys else "quarantined" if item.record_id in quarantined else "remaining"
    if item.kind in ("hard-deleted", "unflagged-deleted"):
        return "repaired" if link is None or link.sf_status == "Deleted" else "remaining"
    if item.kind == "project-missing" and (link is None or link.project_id not in item.project_ids):
        return "quarantined" if item.record_id in quarantined else "repaired"
    if item.kind == "missed" and link is not None:
        return "repaired"
    if item.kind == "old-mapping" and link is not None and link.mapping == fingerprint:
        return "repaired"
    if item.kind == "link-field" and not any((item.record_id, f) in pending for f in item.values):
        return "quarantined" if item.record_id in quarantined else "repaired"
    return "quarantined" if item.record_id in quarantined else "remaining"
