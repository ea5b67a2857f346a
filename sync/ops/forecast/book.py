"""The book the forecast reads: won deals from ``links``, open pipeline deals from ``pipeline``, and
for ``--by role`` the tasks of their plans from ``children`` (through :mod:`sync.state.children`).

Only the state file is read (read-only, no lock): no Salesforce or PSA call. A won deal counts while
its project is active (not closed, lost or deleted, not closed in the PSA when it was linked, and
not closed in the PSA since, as back-sync last read it: ``links.backsync``); an open pipeline deal
counts, weighted, unless it is already counted as won (a tentative project's deal is linked and
still open: it counts as pipeline).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from sync.common.model import Link
from sync.common.structure import ChildKind
from sync.ops.forecast.compute import Deal, day_of, number_of
from sync.ops.forecast.roles import Task
from sync.state import State
from sync.state.children import LINKED, ChildRow, all_children
from sync.state.pipeline_rows import pipeline_rows

#: the links' Salesforce statuses of a won deal (Excluded: still won, outside the criteria); a
#: tentative project's deal (open, in the pipeline) counts as pipeline, weighted, not as won work
WON = ("Won", "Excluded")


def read_book(path: Path) -> tuple[list[Deal], bool]:
    """(deals, whether the state file exists)."""
    deals, _, exists = _read(path, tasks=False)
    return deals, exists


def read_role_book(path: Path) -> tuple[list[Deal], list[Task], bool]:
    """(deals, the tasks of their plans, whether the state file exists), for ``--by role``.

    A task counts while it is linked: an intent is not confirmed in the PSA, a flagged task's line
    item left the deal (its hours were not sold any more), a gone one was deleted in the PSA.
    Tasks of deals that do not count (closed, lost) are dropped by the arithmetic, which starts
    from the deals."""
    return _read(path, tasks=True)


def _read(path: Path, tasks: bool) -> tuple[list[Deal], list[Task], bool]:
    with State.reading(path) as state:
        if state is None:
            return [], [], False
        won = [
            Deal(record_id=link.record_id, kind="won", fields=dict(link.payload))
            for link in state.all_links()
            if _upcoming(link)
        ]
        counted = {deal.record_id for deal in won}
        pipeline = [
            _pipeline_deal(row)
            for row in pipeline_rows(state, "open")
            if row["record_id"] not in counted
        ]
        planned = (
            [
                _task(row)
                for row in all_children(state)
                if row.kind is ChildKind.TASK and row.status == LINKED
            ]
            if tasks
            else []
        )
    return won + pipeline, planned, True


def _task(row: ChildRow) -> Task:
    return Task(
        record_id=row.record_id, role=row.role, hours=row.hours, start=row.start, due=row.due
    )


def _upcoming(link: Link) -> bool:
    """A won deal whose project still has work ahead: neither psa-sync, a person at linking, nor
    delivery since (the status back-sync last read) closed it."""
    return (
        link.link_state == "active"
        and link.closed_by is None
        and (link.sf_status or "Won") in WON
        and link.backsync.get("status") != "closed"
    )


def _pipeline_deal(row: dict[str, Any]) -> Deal:
    probability = number_of(row.get("probability"))
    return Deal(
        record_id=row["record_id"],
        kind="pipeline",
        fields=row["payload"],
        probability=probability if probability is not None else Decimal(0),
        owner=row.get("owner_id"),
        amount=number_of(row.get("amount")),
        close_date=day_of(row.get("close_date")),
    )
