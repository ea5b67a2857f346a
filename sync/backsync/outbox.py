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
from typing import Any

from sync.connectors.base import SalesforceApi
from sync.model import Link
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


def flush(state: State, client: SalesforceApi, sobject: str, run_id: int, *,
          report: WritebackReport, fault: Callable[[str], None] = lambda point: None) -> None:
    """Send every pending write, 200 records a call; each deal once per flush."""
    sent_this_flush: set[str] = set()
    while True:
        batch = state.outbox(limit=COLLECTION_SIZE, exclude=sent_this_flush)
        if not batch:
            return
        records = [{"Id": record_id, **values} for record_id, values in batch.items()]
        results = client.update(sobject, records)
        fault("after-collections")
        report.sent += len(records)
        _settle(state, batch, results, run_id, report)
        sent_this_flush.update(batch)


def _settle(state: State, batch: dict[str, dict], results: list, run_id: int, report: WritebackReport) -> None:
    links = state.links(batch)
    with state.transaction():
        for (record_id, values), result in zip(batch.items(), results, strict=True):
            if result.success:
                state.settle_outbox(record_id, values)
                _remember_written(state, links.get(record_id), values)
                state.release(record_id, ["write-back"])
                state.event(run_id, record_id, "write-back", "written", {"fields": values})
                report.written += 1
                continue
            message = "; ".join(f"{e.status_code}: {e.message}" for e in result.errors) or "unknown error"
            attempts = state.outbox_attempts(record_id)
            if result.transient and attempts + 1 < MAX_ATTEMPTS:
                state.fail_outbox(record_id, message)
                state.event(run_id, record_id, "write-back", "retry-later", {"error": message})
                report.retry_later += 1
                continue
            state.quarantine(record_id, "write-back", message, {"fields": values}, run_id)
            state.drop_outbox(record_id)
            state.event(run_id, record_id, "write-back", "quarantined", {"error": message, "fields": values})
            report.failed[record_id] = message


def _remember_written(state: State, link: Link | None, values: dict[str, Any]) -> None:
    if link is None:
        return
    state.save_link(link.but(written={**link.written, **values}))
