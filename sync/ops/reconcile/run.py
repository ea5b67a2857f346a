"""`psa-sync reconcile [--repair]`: check the invariants in both systems, report or repair drift.

A run trusts its watermark: a deal it never saw, a project a person copied or deleted, a link
field cleared long ago are invisible to it. Reconcile looks at the whole picture once, cheaply —
one token, ⌈matching/2000⌉ Id-only query pages, ⌈linked/300⌉ queryAll calls, ⌈projects/100⌉ PSA
listings:

1. criteria sweep: every deal matching the criteria since ``start_date`` is linked or quarantined;
2. existence sweep of the linked Ids (queryAll): hard deletes, unflagged deletes, link fields;
3. PSA sweep (``list_linked``): orphans, duplicates, missing projects, projects that lost their key.

The queries live in :mod:`sync.ops.reconcile.sweeps`, the rules in
:mod:`sync.ops.reconcile.drift` (pure), the repairs in :mod:`sync.ops.reconcile.repair`, the
report in :mod:`sync.ops.reconcile.report`. ``--repair`` fixes what it safely can, through the
pipeline's own functions under the run lock: missed deals and orphans' deals are re-fetched by Id
and processed exactly as a run would (the create path looks the key up first and adopts),
hard-deleted deals get the ``on_deleted`` policy, link fields go through the outbox and the normal
write-back, a missing project's link is dropped and its deal re-fetched. Duplicates, and orphans
whose deal is outside the criteria, are only reported: psa-sync never deletes anything. The
watermark never moves.
"""

from __future__ import annotations

import logging
from functools import partial

from sync.common.errors import exit_code_of
from sync.common.model import Link
from sync.config import Settings
from sync.connectors.base import SalesforceApi
from sync.extract import incremental
from sync.load.projects import ref_of
from sync.ops.reconcile.children import children_drift
from sync.ops.reconcile.drift import find_drift, in_next_run
from sync.ops.reconcile.model import Drift, Known, Observed, Seen
from sync.ops.reconcile.repair import grade, repair_drift
from sync.ops.reconcile.report import ReconcileReport
from sync.ops.reconcile.sweeps import (
    SWEEP_PAGE,
    criteria_query,
    existence_queries,
    expected_calls,
    field_of,
    stamp_of,
)
from sync.orchestrator import stages
from sync.orchestrator.session import Run
from sync.state import State

logger = logging.getLogger(__name__)


def reconcile(
    settings: Settings, *, repair: bool = False, environ: dict[str, str] | None = None, **kept
) -> ReconcileReport:
    """Check (and with ``repair`` fix) the invariants.

    Raises only LockHeldError and early config errors. ``kept``: what the daemon keeps across its
    jobs (``connected``, ``mapping``, ``checkpoint``).

    A repair writes, so it runs in ``stages.cycle``, the frame of every writing command (recovery
    first, then the sweeps and repairs, settle, unconfirmed, the final write-back; a write-back that
    fails after an error never hides it). A report alone writes nothing but its run row.
    """
    report = ReconcileReport(repair=repair)
    conclude = partial(_conclude, report)
    if repair:
        result = stages.cycle(
            settings,
            "reconcile",
            partial(_check_and_repair, report),
            environ=environ,
            conclude=conclude,
            **kept,
        )
    else:
        with stages.run_session(
            settings, "reconcile", environ=environ, conclude=conclude, **kept
        ) as session:
            report.drift, report.checked = check(session.start())
        result = session.result
    report.api_calls, report.org_usage = result.api_calls, result.org_usage
    logger.info(
        "reconcile finished status=%s exit=%s drift=%d remaining=%d sf_calls=%d",
        report.status,
        report.exit_code,
        len(report.drift),
        len(report.remaining),
        sum(report.api_calls.values()),
    )
    return report


def _check_and_repair(report: ReconcileReport, run: Run) -> None:
    """The step of ``reconcile --repair`` in the cycle: sweep, then repair what was found."""
    report.drift, report.checked = check(run)
    if report.drift:
        repair_drift(run, report.drift)


def _conclude(report: ReconcileReport, session: stages.Session) -> tuple[str, int, dict[str, int]]:
    """The run row of a reconcile.

    Its status comes from the drift that remains, not from the counts.
    """
    report.run_id = session.run_id
    if session.aborted is not None:
        report.error_code = exit_code_of(session.aborted)
    elif session.error is not None:
        report.error, report.error_code = str(session.error), session.error.exit_code
    run = session.run
    if run is not None and report.repair and report.drift:
        grade(session.state, report.drift, run.mapping.fingerprint)
    if run is not None:
        report.repair_counts = {k: v for k, v in run.counts.items() if v}
        report.new_failures = run.new_failures
    counts = {
        **{f"drift_{k}": v["found"] for k, v in report.by_kind().items() if v["found"]},
        "drift_remaining": len(report.remaining),
        **report.repair_counts,
    }
    return report.status, report.exit_code, counts


# --- the sweeps ------------------------------------------------------------------------------


def check(run: Run) -> tuple[list[Drift], dict[str, int]]:
    """Sweep both systems and compare with the state: (drift, what was checked)."""
    state, mapping = run.state, run.mapping
    links = {link.record_id: link for link in state.all_links()}
    matching = sweep_criteria(run.client, mapping)
    existing = sweep_existence(run.client, mapping, links)
    projects = run.psa.list_linked()
    listed = {p.id for p in projects}
    unlisted = [link for link in links.values() if link.project_id not in listed]
    found = run.psa.read([ref_of(link) for link in unlisted]) if unlisted else {}
    observed = Observed(
        matching=matching,
        existing=existing,
        projects=projects,
        present={link.project_id for link in unlisted if link.key in found},
    )
    known = Known(
        quarantined={q["record_id"] for q in state.quarantined()},
        pending=state.outbox_fields(),
        intents={i.record_id for i in state.intents()},
        ignored=set(state.ignored()),
        since=incremental.since(state.watermark(incremental.STREAM), mapping),
    )
    drift = find_drift(
        observed,
        links,
        known,
        writeback=mapping.writeback,
        identifier_of=run.psa.identifier,
        key_is_id=mapping.key.lower() == "id",
    )
    drift += old_mapping(state, mapping, existing, {d.record_id for d in drift})
    drift += children_drift(run, links)
    next_run = sum(
        1
        for record_id, row in matching.items()
        if record_id not in links
        and record_id not in known.quarantined | known.ignored
        and in_next_run(row.stamp, known)
    )
    checked = {
        "matching": len(matching),
        "linked": len(links),
        "projects": len(projects),
        "next_run": next_run,
        "quarantined": len(known.quarantined),
        "expected_salesforce_calls": expected_calls(len(matching), len(links)),
    }
    return drift, checked


def old_mapping(
    state: State, mapping, existing: dict[str, dict], skip: set[str | None]
) -> list[Drift]:
    """Links made with another mapping.

    --repair re-fetches them and the diff pushes what changed.
    """
    return [
        Drift(
            kind="old-mapping",
            record_id=record_id,
            key=record_id,
            detail="mapped with an older mapping",
            repair="refetch",
        )
        for record_id in state.older_mapping(mapping.fingerprint)
        if record_id in existing and record_id not in skip
    ]


def sweep_criteria(client: SalesforceApi, mapping) -> dict[str, Seen]:
    """Id → (key, stamp) of every live record matching the criteria since start_date."""
    found: dict[str, Seen] = {}
    key_is_id = mapping.key.lower() == "id"
    for page in client.query_pages(
        criteria_query(mapping), include_deleted=False, batch_size=SWEEP_PAGE
    ):
        for record in page:
            key = record["Id"] if key_is_id else str(field_of(record, mapping.key) or "")
            found[record["Id"]] = Seen(key=key, stamp=stamp_of(record))
    return found


def sweep_existence(client: SalesforceApi, mapping, links: dict[str, Link]) -> dict[str, dict]:
    """Id → record for every linked Id Salesforce still has (deleted ones included: queryAll)."""
    existing: dict[str, dict] = {}
    for soql in existence_queries(mapping, links):
        for page in client.query_pages(soql, include_deleted=True):
            existing.update((record["Id"], record) for record in page)
    return existing


# --- the repairs -----------------------------------------------------------------------------
