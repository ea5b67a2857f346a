"""What one run holds while the stages work: the :class:`Run`, built once by the run session, and
the :class:`PagePlan` of each page it processes.

The stages receive a :class:`Run` instead of reaching for globals: the settings, the mapping, the
state, both clients, the load's context and reports, and the run's counters (:data:`COUNTS`), which
the run's row and its summary line print. A page's plan is decided before anything is written
(``stages.plan_page``): ``run`` carries it out, ``plan`` lists it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync.backsync.outbox import WritebackReport
from sync.common.model import DesiredRow, Facts, Link, Plan, RowError
from sync.common.structure import Structure
from sync.config import Settings
from sync.connectors.base import SalesforceApi
from sync.connectors.psa.base import Policies, ProjectRef, PsaConnector
from sync.connectors.psa.batch import CreateChunk
from sync.load.child_actions import ChildReport
from sync.load.context import LoadContext, LoadReport
from sync.load.members import with_members
from sync.mapping.model import Mapping
from sync.state import State

#: The counters of one run, in the order the summary line prints them.
COUNTS = (
    "extracted",
    "created",
    "adopted",
    "updated",
    "unchanged",
    "pending",
    "lifecycle",
    "repaired",
    "quarantined",
    "written",
    "written_later",
    "backsync",
    "conflicts",
    "unconfirmed",
)


@dataclass
class Run:
    """Everything one run needs, built once by the run session."""

    settings: Settings
    mapping: Mapping
    state: State
    client: SalesforceApi
    psa: PsaConnector
    run_id: int
    fault: Callable[[str], None]
    facts: dict[str, Facts] = field(default_factory=dict)  # of the page being processed
    load: LoadReport = field(default_factory=LoadReport)
    children: ChildReport = field(default_factory=ChildReport)
    writeback: WritebackReport = field(default_factory=WritebackReport)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    new_failures: int = 0
    # the PSA's (``PsaConnector.create_chunk``), else whole batches
    create_chunk: CreateChunk | None = None

    @property
    def ctx(self) -> LoadContext:
        policies = Policies.of(self.settings.psa.options)
        psa = with_members(
            self.psa,
            self.mapping.members,
            self.state,
            self.run_id,
            self.mapping.key.lower() == "id",
        )
        return LoadContext(
            state=self.state,
            psa=psa,
            run_id=self.run_id,
            writeback=self.mapping.writeback,
            on_create=self.mapping.on_create_fields(),
            on_closed=policies.on_closed,
            fault=self.fault,
            fingerprint=self.mapping.fingerprint,
            pipeline=self.mapping.tentative,
            create_chunk=self.create_chunk,
            parent_of=self.parent_of if policies.parent_projects else None,
        )

    def parent_of(self, row: DesiredRow) -> ProjectRef | None:
        """The Account's parent project, found or made once (``customer: parent_project``)."""
        facts = self.facts.get(row.record_id) or Facts()
        if not facts.account_id:
            return None
        name = facts.account_name or row.fields.get("customer") or facts.account_id
        return self.psa.ensure_parent(
            facts.account_id, name, fields={"billing_type": row.fields.get("billing_type")}
        )

    def tally(self, plan: Plan, pipeline: Sequence[dict[str, Any]] = ()) -> None:
        """Count what a page's plan decided (its pipeline rows by status), then what load did."""
        for row in pipeline:
            self.counts[f"pipeline_{row['status']}"] = (
                self.counts.get(f"pipeline_{row['status']}", 0) + 1
            )
        self.counts["unchanged"] += len(plan.unchanged)
        self.counts["lifecycle"] += len(plan.lifecycle)
        self.counts["repaired"] += len(plan.repairs)
        self.tally_load()

    def tally_load(self) -> None:
        """The load report keeps the run's totals; its failures are counted once, then cleared."""
        report = self.load
        self.counts.update(
            created=len(report.created),
            adopted=len(report.adopted),
            updated=len(report.updated),
            pending=len(report.pending),
        )
        self.count_new_failures(report.failed)
        report.failed = {}
        # a project's plan: counted once it did something (mappings without one)
        plans = self.children
        done = {
            "children_created": plans.created,
            "children_found": plans.found,
            "children_flagged": plans.flagged,
            "estimates_moved": plans.estimates,
        }
        self.counts.update({name: n for name, n in done.items() if n or name in self.counts})
        self.count_new_failures(
            {record_id: "; ".join(p) for record_id, p in plans.problems.items()}
        )
        plans.problems = {}

    def quarantine_transform(self, failed: dict[str, str], payloads: dict[str, dict]) -> None:
        """Inside a page's commit: records that match and do not map, each with every reason. Only a
        failure that is new (or has a new reason) counts toward exit 1."""
        fresh = 0
        for record_id, reason in failed.items():
            old = [q for q in self.state.quarantined(record_id) if q["stage"] == "transform"]
            fresh += not old or old[0]["error"] != reason
            self.state.quarantine(record_id, "transform", reason, payloads[record_id], self.run_id)
            self.state.event(self.run_id, record_id, "transform", "quarantined", {"error": reason})
        self.counts["quarantined"] += len(failed)
        self.new_failures += fresh

    def count_new_failures(self, failed: dict[str, str]) -> None:
        """Records quarantined by this run's writes: they make the run exit 1."""
        self.counts["quarantined"] += len(failed)
        self.new_failures += len(failed)


@dataclass
class PagePlan:
    """What a page needs, decided before anything is written: ``run`` does it, ``plan`` lists it."""

    plan: Plan
    facts: dict[str, Facts]
    errors: list[RowError]  # every transform failure of the page
    # record → reason (won deals that do not map)
    quarantine: dict[str, str] = field(default_factory=dict)
    links: dict[str, Link] = field(default_factory=dict)
    # rows of the pipeline table (``transform.pipeline_stream``)
    pipeline: list[dict] = field(default_factory=list)
    # record → the phases and tasks of its project (``structure:``; won and tentative deals)
    structures: dict[str, Structure] = field(default_factory=dict)
