"""The types the stages hand each other, in one place and free of I/O.

Transform makes :class:`DesiredRow` / :class:`RowError`; the state store keeps :class:`Link`; the
diff turns rows and links into a :class:`Plan` of :class:`Create`, :class:`Update` and
:class:`LifecycleChange`; load carries them out. Because they live here, the pure stages (transform,
diff) import neither the state store (sqlite-utils) nor a connector (requests, simple-salesforce).

One name for the record a project is made for: ``record_id`` (mappings may read a custom object,
not only Opportunity), in the code and, since migration m006, in the state file's columns too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any


class SfStatus(StrEnum):
    """The Salesforce status a linked project carries (the lifecycle's vocabulary)."""

    WON = "Won"
    EXCLUDED = "Excluded"  # still won, but outside the mapping's criteria
    LOST = "Lost"
    REOPENED = "Reopened"  # no longer won, not closed either
    DELETED = "Deleted"
    # an open deal of the pipeline with a tentative project (pipeline.create_projects)
    TENTATIVE = "Tentative"
    DROPPED = "Dropped"  # a tentative project's deal left the pipeline criteria while still open


class Outcome(StrEnum):
    """What one PSA write came to. ``UNKNOWN``: neither confirmed nor refused (a 5xx or no answer
    whose look-up found nothing): keep the intent or the old snapshot and try again."""

    CREATED = "created"
    EXISTS = "exists"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    CLOSED = "closed"
    FAILED = "failed"
    UNKNOWN = "unknown"


#: The outcomes that mean the PSA holds what we sent.
DONE = (Outcome.UPDATED, Outcome.UNCHANGED)


@dataclass(frozen=True)
class DesiredRow:
    """One record as the mapping wants its project to be (typed plain Python values)."""

    record_id: str
    key: str
    modstamp: datetime
    deleted: bool
    matches: bool
    fields: dict[str, Any]
    # the link fields as the record carries them now (repair detection)
    record_links: dict[str, Any]
    pipeline: bool = False  # matches pipeline.criteria (and not the won criteria)

    def wanted(self, tentative: bool) -> bool:
        """Whether the deal should have a project: won, or in the pipeline with tentative
        projects."""
        return not self.deleted and (self.matches or (tentative and self.pipeline))


@dataclass(frozen=True)
class RowError:
    """A record the mapping could not turn into a row: the first failing field and every reason.
    ``deleted`` and ``matches`` let the pipeline quarantine a won deal and let a lost one pass."""

    record_id: str
    key: str
    modstamp: datetime
    deleted: bool
    matches: bool
    field: str
    reason: str
    payload: dict
    pipeline: bool = False


@dataclass(frozen=True)
class Link:
    """The identity of one record → project pair, and the snapshot of what we last pushed."""

    record_id: str
    key: str
    project_id: int
    project_identifier: str
    project_url: str
    payload_hash: str
    payload: dict
    written: dict
    backsync: dict
    link_state: str
    sf_status: str | None
    closed_by: str | None
    pending: dict
    kept_psa: list
    mapping: str | None = None  # fingerprint of the mapping the payload was made with

    def but(self, **changes: Any) -> Link:
        """A copy with ``changes``: the one way to change a link (it is frozen)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Intent:
    """A PSA write started but not yet settled: a create in flight, or an update whose outcome is
    unknown (the next run re-fetches that record whatever its stamp)."""

    record_id: str
    key: str
    action: str  # "create" | "update"
    payload: dict
    run_id: int | None = None


#: Opportunity fields read besides the mapping's: the deal's status (lifecycle) and its Account
#: (``customer: parent_project``).
FACT_FIELDS = ("IsWon", "IsClosed", "AccountId", "Account.Name")


@dataclass(frozen=True)
class Facts:
    """What one record says beyond the mapping: won/closed (lifecycle) and its Account (parents).
    ``None`` where the record does not carry the field (a custom object has no IsWon)."""

    is_won: bool | None = None
    is_closed: bool | None = None
    account_id: str | None = None
    account_name: str | None = None


def facts_of(records: list[dict]) -> dict[str, Facts]:
    """The :class:`Facts` of each record of a page, by record Id."""
    facts = {}
    for record in records:
        if "Id" not in record:
            continue
        account = record.get("Account")
        facts[record["Id"]] = Facts(
            is_won=record.get("IsWon"),
            is_closed=record.get("IsClosed"),
            account_id=record.get("AccountId"),
            account_name=account.get("Name") if isinstance(account, dict) else None,
        )
    return facts


@dataclass(frozen=True)
class Create:
    row: DesiredRow
    payload_hash: str


@dataclass(frozen=True)
class Update:
    row: DesiredRow
    link: Link
    changed: dict[str, Any]
    payload_hash: str


@dataclass(frozen=True)
class LifecycleChange:
    row: DesiredRow
    link: Link
    status: SfStatus  # the status the project should carry now


#: A write the PSA may have to be asked again about.
Write = Create | Update | LifecycleChange


@dataclass
class Plan:
    """What one page needs: the diff's answer, before anything is written."""

    creates: list[Create] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    lifecycle: list[LifecycleChange] = field(default_factory=list)
    # record → link fields to re-write
    repairs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # unlinked rows: deleted, not matching, or unlinked by hand
    ignored: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "create": len(self.creates),
            "update": len(self.updates),
            "unchanged": len(self.unchanged),
            "lifecycle": len(self.lifecycle),
            "repair": len(self.repairs),
            "ignored": len(self.ignored),
        }
