"""`psa-sync backfill --dry-run`: the range read and planned, nothing written.

The pages go through the run's own page step (``stages.plan_page``) over a read-only state, so
the counts are what a backfill would do now; the first ``EXAMPLES`` of each action are kept for
the report.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sync.common.clock import iso, utcnow
from sync.config import Settings
from sync.mapping.model import Mapping
from sync.orchestrator import stages
from sync.orchestrator.backfill import BackfillReport, Progress, read
from sync.orchestrator.date_range import check_source
from sync.orchestrator.run import PagePlan
from sync.orchestrator.session import make_clients
from sync.state import State

EXAMPLES = 5


def dry_run(settings: Settings, mapping: Mapping, since: date, until: date) -> BackfillReport:
    """Read and plan only, through the run's page step on a read-only state: counts, examples."""
    check_source(mapping)
    client = make_clients(settings).client
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


def _tally_plan(outcome: BackfillReport, planned: PagePlan) -> None:
    plan, counts, examples = planned.plan, outcome.progress.counts, outcome.examples
    actions: dict[str, list[dict[str, Any]]] = {
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
