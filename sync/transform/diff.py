"""Desired rows against the snapshot → a Plan. Pure: no I/O, no clock.

Identity is the ``links`` table, never the link field on the record: that field is a hint that a
user can clear, a clone can copy, and a failed write-back can leave empty. The snapshot holds the
typed mapped payload we last pushed; a canonical hash of it decides:

- new key that matches the criteria (and is not deleted) → create
- changed hash → update of the changed fields only, never an ``on_create`` field
- same hash → nothing (this is what makes the echo of our own write-backs a no-op)
- linked deal that no longer matches, or is deleted → a lifecycle change

Link and back-sync fields on the record that differ from what we last wrote (a clone, a cleared
field, a failed write) are repaired through the outbox.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sync.common.model import (
    Create,
    DesiredRow,
    Facts,
    LifecycleChange,
    Link,
    Plan,
    RowError,
    SfStatus,
    Update,
)


def canonical(value: Any) -> Any:
    """One JSON-able form per typed value, so equal values hash equally (125000.5 == 125000.50)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)):
        number = Decimal(str(value)).normalize()
        return format(number, "f") if number == number.to_integral_value() else str(number)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def same(a: Any, b: Any) -> bool:
    return canonical(a) == canonical(b)


def payload_hash(fields: dict[str, Any]) -> str:
    text = json.dumps(
        {k: canonical(v) for k, v in fields.items()}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(text.encode()).hexdigest()


def link_values(link: Link, writeback: dict[str, str]) -> dict[str, Any]:
    """The Salesforce link fields as psa-sync wants them for this link."""
    source = {"project.id": str(link.project_id), "project.url": link.project_url}
    return {sf_field: source[what] for sf_field, what in writeback.items()}


def status_of(
    row: DesiredRow, facts: Facts | None, tentative: bool = False, was: str | None = None
) -> SfStatus:
    """The status a linked project should carry: Won, Excluded (won, outside the criteria), Lost,
    Reopened, Deleted; with tentative projects also Tentative (in the pipeline) and Dropped (a
    tentative project's deal, ``was`` its link's status, still open but out of the pipeline).
    ``facts`` are the deal's IsWon/IsClosed (Opportunity); without them a non-match is Excluded."""
    if row.deleted:
        return SfStatus.DELETED
    if row.matches:
        return SfStatus.WON
    if tentative and row.pipeline:
        return SfStatus.TENTATIVE
    if facts is None or facts.is_won is None or facts.is_won:
        return SfStatus.EXCLUDED
    if facts.is_closed:
        return SfStatus.LOST
    return SfStatus.DROPPED if was in (SfStatus.TENTATIVE, SfStatus.DROPPED) else SfStatus.REOPENED


def plan_changes(
    rows: list[DesiredRow],
    links: dict[str, Link],
    *,
    writeback: dict[str, str],
    on_create: set[str],
    pending: set[tuple[str, str]] = frozenset(),
    facts: dict[str, Facts] | None = None,
    ignored: set[str] = frozenset(),
    tentative: bool = False,
) -> Plan:
    """Decide what each row needs. ``pending`` holds (deal, field) pairs already in the outbox;
    ``facts`` the IsWon/IsClosed of each deal (``model.facts_of``); ``ignored`` the deals unlinked
    by hand, which get no project until they are linked or retried by name; ``tentative``: pipeline
    deals get projects too (``pipeline.create_projects``)."""
    plan = Plan()
    for row in rows:
        link = links.get(row.record_id)
        if link is None:
            if row.wanted(tentative) and row.record_id not in ignored:
                plan.creates.append(Create(row, payload_hash(row.fields)))
            else:
                plan.ignored.append(row.record_id)
            continue
        if not row.deleted:
            _repair(plan, row, link, writeback, pending)
        status = status_of(row, (facts or {}).get(row.record_id), tentative, link.sf_status)
        if status != (link.sf_status or SfStatus.WON):
            plan.lifecycle.append(LifecycleChange(row, link, status))
        if not row.wanted(tentative):
            continue
        digest = payload_hash(row.fields)
        if digest == link.payload_hash:
            plan.unchanged.append(row.record_id)
            continue
        changed = {
            name: value
            for name, value in row.fields.items()
            if name not in on_create
            and name not in link.kept_psa
            and not same(value, link.payload.get(name))
        }
        plan.updates.append(Update(row, link, changed, digest))
    return plan


def _repair(
    plan: Plan,
    row: DesiredRow,
    link: Link,
    writeback: dict[str, str],
    pending: set[tuple[str, str]],
) -> None:
    wanted = {**link.written, **link_values(link, writeback)}
    drift = {
        sf_field: value
        for sf_field, value in wanted.items()
        if sf_field in row.record_links
        and (row.record_id, sf_field) not in pending
        and not same(row.record_links[sf_field], value)
    }
    if drift:
        plan.repairs[row.record_id] = drift


def lifecycle_only_rows(
    errors: list[RowError], links: dict[str, Link], tentative: bool = False
) -> list[DesiredRow]:
    """A linked deal that left the criteria needs its lifecycle even if its fields no longer map."""
    rows = []
    for error in errors:
        link = links.get(error.record_id)
        if link is not None and not _wanted(error, tentative):
            rows.append(
                DesiredRow(
                    record_id=error.record_id,
                    key=error.key,
                    modstamp=error.modstamp,
                    deleted=error.deleted,
                    matches=False,
                    fields=dict(link.payload),
                    record_links={},
                )
            )
    return rows


def _wanted(error: RowError, tentative: bool) -> bool:
    return not error.deleted and (error.matches or (tentative and error.pipeline))


def to_quarantine(errors: list[RowError], tentative: bool = False) -> dict[str, str]:
    """Record → every reason, for the records that match the criteria (or, with tentative projects,
    the pipeline's) and do not map (a lost or deleted deal that no longer maps is not a failure)."""
    failed: dict[str, str] = {}
    for error in errors:
        if not _wanted(error, tentative):
            continue
        failed[error.record_id] = (
            f"{failed[error.record_id]}; {error.reason}"
            if error.record_id in failed
            else error.reason
        )
    return failed
