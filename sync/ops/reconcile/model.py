"""Reconcile's words: what the sweeps saw, what the state file knows, and what drifted.

The sweeps of :mod:`sync.ops.reconcile.run` gather an :class:`Observed`, the state file gives a
:class:`Known`, and :func:`sync.ops.reconcile.drift.find_drift` names each :class:`Drift` (one of
``KINDS``); the repairs and the report read those.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sync.connectors.psa.base import ProjectRef

#: Kinds of drift, in the order they are reported, with what each means to a person.
KINDS = {
    "missed": (
        "matches the criteria but is neither linked, quarantined nor ignored (unlinked by hand)"
    ),
    "hard-deleted": "linked deal no longer exists in Salesforce (purged from the recycle bin)",
    "unflagged-deleted": "linked deal is deleted in Salesforce but its project was never flagged",
    "orphan": "PSA project carries a key that no link knows",
    "duplicate": "one key is on two or more PSA projects",
    "project-missing": "link points at a PSA project that no longer exists",
    "key-missing": "linked PSA project no longer carries its key",
    "link-field": "link field on the record differs from the link",
    "old-mapping": (
        "linked deal still carries values of an older mapping (not touched since it changed)"
    ),
    "child-missing": (
        "a phase or task psa-sync made is gone from its project in the PSA (deleted by hand)"
    ),
}


@dataclass
class Drift:
    """One thing that drifted; ``repair`` names the action --repair takes (None: report only)."""

    kind: str
    record_id: str | None
    key: str
    detail: str
    repair: str | None = (
        None  # refetch | lifecycle | drop-link | restore-key | queue | recreate-child
    )
    project_ids: tuple[int, ...] = ()
    values: dict[str, Any] = field(default_factory=dict)  # link fields to queue
    status: str = "found"  # found (report only) | repaired | quarantined | remaining
    # --repair dropped its link: a link there now is the one the repair made, even on the same
    # project id (Redmine on SQLite gives a deleted last project's id to the next one)
    dropped: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.record_id,
            "key": self.key,
            "detail": self.detail,
            "status": self.status,
            "project_ids": list(self.project_ids),
        }


@dataclass(frozen=True)
class Seen:
    """One record of the criteria sweep."""

    key: str
    stamp: datetime | None


@dataclass
class Observed:
    """What both systems said: the input of :func:`find_drift`."""

    matching: dict[str, Seen]  # criteria sweep: record id → key, stamp
    existing: dict[str, dict]  # existence sweep: linked record id → record as returned
    projects: list[ProjectRef]  # every PSA project carrying a key
    present: set[int] = field(
        default_factory=set
    )  # linked projects not listed (lost their key) but there


@dataclass(frozen=True)
class Known:
    """What the state file says, besides the links."""

    quarantined: AbstractSet[str] = frozenset()
    pending: AbstractSet[tuple[str, str]] = frozenset()  # (deal, field) waiting in the outbox
    intents: AbstractSet[str] = frozenset()
    ignored: AbstractSet[str] = frozenset()  # unlinked by hand: meant to have no project
    since: datetime = datetime(1970, 1, 1, tzinfo=UTC)  # where the next run reads from
