"""Outbox → Salesforce sObject Collections, 200 records a call.

Every Salesforce write psa-sync makes (link fields, back-sync fields, repairs) goes through the
outbox: coalesced per deal and field, sent in full collections whenever 200 deals are pending and
once at the end of the run. A 200 response still carries per-record results: transient codes stay
in the outbox for the next run, permanent ones move to the quarantine (stage ``write-back``) with
Salesforce's message. Nothing is dropped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sync.connectors.base import SalesforceApi
from sync.state import State

logger = logging.getLogger(__name__)

COLLECTION_SIZE = 200
MAX_ATTEMPTS = 10


@dataclass
class WritebackReport:
    sent: int = 0
    written: int = 0
    retry_later: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def flush(
    state: State,
    client: SalesforceApi,
    sobject: str,
    run_id: int,
    *,
    report: WritebackReport,
    fault: Callable[[str], None] = lambda point: None,
) -> None:
    """Send every pending write, 200 records a call; each deal once per flush (the order of the
    deals is read once; each call reads its own deals' values and settles them in one commit)."""
    order = state.outbox_order()
    for start in range(0, len(order), COLLECTION_SIZE):
        batch = state.outbox_of(order[start : start + COLLECTION_SIZE])
        if not batch:
            continue
        records = [{"Id": record_id, **values} for record_id, values in batch.items()]
        results = client.update(sobject, records)
        fault("after-collections")
        report.sent += len(records)
        _settle(state, batch, results, run_id, report)


def _settle(
    state: State, batch: dict[str, dict], results: list, run_id: int, report: WritebackReport
) -> None:
    """One collection call's answers, one commit: the written ones together, each failure alone."""
    answered = list(zip(batch.items(), results, strict=True))
    written = {record_id: values for (record_id, values), result in answered if result.success}
    with state.transaction():
        state.settle_outbox_all(written)
        state.add_written(written)
        state.release_all(written, ["write-back"])
        state.add_events(
            run_id,
            (
                (record_id, "write-back", "written", {"fields": values})
                for record_id, values in written.items()
            ),
        )
        report.written += len(written)
        for (record_id, values), result in answered:
            if result.success:
                continue
            message = (
                "; ".join(f"{e.status_code}: {e.message}" for e in result.errors) or "unknown error"
            )
            attempts = state.outbox_attempts(record_id)
            if result.transient and attempts + 1 < MAX_ATTEMPTS:
                state.fail_outbox(record_id, message)
                state.event(run_id, record_id, "write-back", "retry-later", {"error": message})
                report.retry_later += 1
                continue
            state.quarantine(record_id, "write-back", message, {"fields": values}, run_id)
            state.drop_outbox(record_id)
            state.event(
                run_id, record_id, "write-back", "quarantined", {"error": message, "fields": values}
            )
            report.failed[record_id] = message
