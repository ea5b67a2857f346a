"""`psa-sync plan`: what the next run would do — its own query and page step; nothing is written.

With ``--sample`` it runs offline over records in the REST shape (a query response, its
``records`` list, or the output of ``sf data query --json``), so a mapping change can be proven in
a pull request with no connection to anything.

The plan streams: its memory does not grow with the org. It counts every action and keeps the first
``examples`` of each (``plan --json``'s lists hold at most that many; ``counts`` holds the totals);
a machine that wants every action asks for ``--jsonl``, one JSON line per action written as it is
decided, page by page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sync.common.errors import ConfigError
from sync.common.structure import Child, ChildKind, Structure
from sync.config import Settings
from sync.load.child_actions import child_actions
from sync.mapping.loader import load_mapping
from sync.mapping.model import Mapping
from sync.mapping.structure_rules import LineItemRules
from sync.orchestrator.run import PagePlan
from sync.orchestrator.session import make_clients
from sync.orchestrator.stages import next_run_pages, plan_page
from sync.state import State
from sync.state import children as state_children

JSON_VERSION = 1
NO_ROLE = "(no role)"  # the tasks without a role, in a structure's hours by role
EXAMPLES = 1000  # default number of examples of each action kept for the summary
# list in the summary → the action named on each JSON line
ACTIONS = {
    "creates": "create",
    "updates": "update",
    "lifecycle": "lifecycle",
    "repairs": "repair",
    "quarantined": "quarantine",
    "recover": "recover",
    "pipeline": "pipeline",
    "children": "children",
}


@dataclass
class PlanResult:
    """Counts of every action, the first ``examples`` of each, and a ``sink`` that sees them all."""

    examples: int = EXAMPLES
    # called with every action as it is decided (--jsonl)
    sink: Callable[[dict], None] | None = None
    creates: list[dict] = field(default_factory=list)
    updates: list[dict] = field(default_factory=list)
    unchanged: int = 0
    lifecycle: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)
    # link fields the run re-writes (cleared, cloned)
    repairs: list[dict] = field(default_factory=list)
    recover: list[dict] = field(default_factory=list)  # records an earlier run left in doubt
    pipeline: list[dict] = field(default_factory=list)  # rows of the pipeline table the run writes
    # what linked deals' passes do to their plans
    children: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, 0))
    api_calls: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, items: list[dict]) -> None:
        """Count ``items`` (a summary list), keep the first examples, give all to the sink."""
        self.counts[kind] += len(items)
        kept: list[dict] = getattr(self, kind)
        if len(kept) < self.examples:
            kept.extend(items[: self.examples - len(kept)])
        if self.sink is not None:
            for item in items:
                self.sink({"action": ACTIONS[kind], **item})

    def to_json(self) -> dict[str, Any]:
        """Version 1; the lists hold at most ``examples`` items each, ``counts`` the totals."""
        return {
            "version": JSON_VERSION,
            "creates": self.creates,
            "updates": self.updates,
            "unchanged": self.unchanged,
            "lifecycle": self.lifecycle,
            "quarantined": self.quarantined,
            "repairs": self.repairs,
            "recover": self.recover,
            "pipeline": self.pipeline,
            "children": self.children,
            "api_calls": self.api_calls,
            "counts": {**self.counts, "unchanged": self.unchanged},
            "examples": self.examples,
        }

    def summary_line(self) -> dict[str, Any]:
        """The last line of ``--jsonl``: the totals and the calls the plan spent."""
        return {
            "action": "summary",
            "version": JSON_VERSION,
            "counts": {**self.counts, "unchanged": self.unchanged},
            "api_calls": self.api_calls,
        }


def read_sample(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read sample records: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("result"), dict):
        data = data["result"]  # `sf data query --json`
    if isinstance(data, dict):
        data = data.get("records")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ConfigError(
            f"{path}: expected a query response, its `records` list, or `sf data query --json` "
            "output"
        )
    return data


def add_page(
    result: PlanResult, records: list[dict], mapping: Mapping, state: State | None
) -> None:
    """List what the run's own page step decides for these records (``stages.plan_page``)."""
    page = plan_page(records, mapping, state)
    add_planned(result, page)
    if state is not None and mapping.structure is not None:
        add_children(result, page, state, mapping.structure.line_items)


def add_planned(result: PlanResult, page: PagePlan) -> None:
    plan = page.plan
    result.add(
        "creates",
        [
            _create(c.row.record_id, c.row.fields, page.structures.get(c.row.record_id))
            for c in plan.creates
        ],
    )
    result.add(
        "updates",
        [{"id": u.row.record_id, "changed": u.changed} for u in plan.updates if u.changed],
    )
    result.unchanged += len(plan.unchanged)
    result.add(
        "lifecycle", [{"id": c.row.record_id, "status": str(c.status)} for c in plan.lifecycle]
    )
    result.add(
        "repairs",
        [{"id": record_id, "fields": values} for record_id, values in plan.repairs.items()],
    )
    result.add(
        "quarantined",
        [
            {"id": e.record_id, "field": e.field, "reason": e.reason}
            for e in page.errors
            if e.record_id in page.quarantine
        ],
    )
    result.add(
        "pipeline",
        [
            {
                "id": row["record_id"],
                "status": row["status"],
                "stage": row["stage"],
                "probability": row["probability"],
                "amount": row["amount"],
            }
            for row in page.pipeline
        ],
    )


def add_children(
    result: PlanResult, page: PagePlan, state: State, rules: LineItemRules | None
) -> None:
    """The child actions of the page's linked, planned, open projects, decided as the run decides
    them (``load.child_actions``): a new line item's task, a removed one flagged, an estimate
    moved."""
    plans = state_children.planned(state, list(page.structures))
    existing = state_children.children_of(state, list(plans))
    for record_id, plan_state in plans.items():
        link = page.links.get(record_id)
        if link is None or link.link_state != "active" or link.closed_by is not None:
            continue
        actions = child_actions(
            page.structures[record_id], existing.get(record_id, {}), plan_state, rules
        )
        if actions:
            result.add(
                "children",
                [
                    {
                        "id": record_id,
                        "create": [
                            {"key": c.key, "kind": c.kind.value, "name": c.name, "hours": c.hours}
                            for c in actions.create
                        ],
                        "flag": [{"key": r.key, "name": r.name} for r in actions.flag],
                        "estimates": [
                            {"key": r.key, "name": r.name, "from": r.hours, "to": c.hours}
                            for r, c in actions.estimates
                        ],
                    }
                ],
            )


def _create(record_id: str, fields: dict, structure: Structure | None) -> dict:
    item = {"id": record_id, "fields": fields}
    if structure is not None:
        item["structure"] = structure_json(structure)
    return item


def structure_json(structure: Structure) -> dict[str, Any]:
    """The tree a create makes below its project (docs/status.schema.json, ``$defs/structure``)."""

    def child(c: Child) -> dict[str, Any]:
        out: dict[str, Any] = {"key": c.key, "name": c.name, "due": c.due}
        if c.kind is ChildKind.TASK:
            out.update(
                phase=c.phase,
                hours=c.hours,
                role=c.role,
                start=c.start,
                line_item=c.line_item.line_item_id if c.line_item else None,
            )
        return out

    hours: dict[str, Decimal] = {}
    for task in structure.tasks:
        if task.hours is not None:
            role = task.role or NO_ROLE
            hours[role] = hours.get(role, Decimal(0)) + task.hours
    return {
        "template": structure.template,
        "phases": [child(p) for p in structure.phases],
        "tasks": [child(t) for t in structure.tasks],
        "hours": sum(hours.values(), Decimal(0)),
        "hours_by_role": dict(sorted(hours.items())),
    }


def plan_sample(
    sample: Path,
    mapping_path: Path,
    state_path: Path | None,
    *,
    examples: int = EXAMPLES,
    sink: Callable[[dict], None] | None = None,
) -> PlanResult:
    mapping = load_mapping(mapping_path)
    state = State.open_readonly(state_path) if state_path else None
    result = PlanResult(examples=examples, sink=sink)
    try:
        add_page(result, read_sample(sample), mapping, state)
    finally:
        if state is not None:
            state.close()
    return result


def plan_online(
    settings: Settings, *, examples: int = EXAMPLES, sink: Callable[[dict], None] | None = None
) -> PlanResult:
    """The next run's window, through the next run's page step: the records its recovery re-fetches
    (those left in doubt, listed under ``recover``), then the query it sends, extra Ids included.
    Only Salesforce is asked: the PSA client is built, never called."""
    mapping = load_mapping(settings.mapping)
    client = make_clients(settings).client
    client.connect()
    state = State.open_readonly(settings.state)
    result = PlanResult(examples=examples, sink=sink)
    try:
        result.add(
            "recover",
            [{"id": i.record_id, "action": i.action} for i in (state.intents() if state else [])],
        )
        for records in next_run_pages(client, mapping, state):
            add_page(result, records, mapping, state)
    finally:
        if state is not None:
            state.close()
        result.api_calls = dict(client.usage.calls)
    return result
