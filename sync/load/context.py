"""What every load step is given and gives back, and how a write that did not succeed is kept.

A step of the load (projects, updates, lifecycle, children) receives a :class:`LoadContext` (the
state, the PSA, the run and the mapping's policies) and adds to a :class:`LoadReport`. A write the
PSA neither confirmed nor refused is noted with its intent (:func:`note_unconfirmed`); one it
refused is quarantined with its intent dropped in the same commit (:func:`note_refused`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sync.common.model import Create, DesiredRow, LifecycleChange, Link, Update
from sync.connectors.psa.base import Policies, ProjectRef, PsaConnector
from sync.connectors.psa.batch import CreateChunk
from sync.mapping.model import Pipeline
from sync.state import State

Unsettled = Create | Update | LifecycleChange


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    # writes the PSA neither confirmed nor refused
    unknown: dict[str, Unsettled] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadContext:
    state: State
    psa: PsaConnector
    run_id: int
    writeback: dict[str, str]
    on_create: set[str]
    on_closed: str = Policies.on_closed
    parent_of: Callable[[DesiredRow], ProjectRef | None] | None = None  # customer: parent_project
    fingerprint: str | None = None  # of the mapping the payloads are made with
    # test-only crash points (see sync.common.faults)
    fault: Callable[[str], None] = lambda point: None
    pipeline: Pipeline | None = None  # the mapping's pipeline when it makes tentative projects
    # the PSA's (one request per project), else the whole batch
    create_chunk: CreateChunk | None = None


def ref_of(link: Link, status: str = "active") -> ProjectRef:
    return ProjectRef(
        id=link.project_id,
        identifier=link.project_identifier,
        key=link.key,
        url=link.project_url,
        status=status,
    )


def note_unconfirmed(
    ctx: LoadContext,
    report: LoadReport,
    write: Unsettled,
    action: str,
    detail: dict,
    intent: dict | None = None,
) -> None:
    """Remember a write the PSA neither confirmed nor refused. ``intent`` (for a deal already
    linked) leaves an update intent, so the next run re-fetches the deal whatever its stamp; a
    create already has its own. ``report.unknown`` gets it one more try at the end of this run."""
    record_id = write.row.record_id
    with ctx.state.transaction():
        if intent is not None:
            ctx.state.add_intents([(record_id, write.row.key, intent)], ctx.run_id, "update")
        ctx.state.event(ctx.run_id, record_id, action, "unknown", detail)
    report.unknown[record_id] = write


def note_refused(ctx: LoadContext, row: DesiredRow, report: LoadReport, reason: str) -> None:
    """Quarantine a write the PSA refused; its intent, answered now, goes in the same commit (never
    one without the other, or a crash in between would leave the deal in neither place)."""
    with ctx.state.transaction():
        ctx.state.drop_intent(row.record_id)
        ctx.state.quarantine(row.record_id, "load", reason, {"fields": row.fields}, ctx.run_id)
        ctx.state.event(ctx.run_id, row.record_id, "load", "quarantined", {"error": reason})
    report.failed[row.record_id] = reason
