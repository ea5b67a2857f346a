"""`psa-sync plan`: what the next run would do — its own query and page step; nothing is written.

With ``--sample`` it runs offline over records in the REST shape (a query response, its
``records`` list, or the output of ``sf data query --json``), so a mapping change can be proven in
a pull request with no connection to anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.errors import ConfigError
from sync.mapping.loader import load_mapping
from sync.mapping.model import Mapping
from sync.pipeline import next_run_pages, plan_page
from sync.runtime import connect
from sync.state import State

JSON_VERSION = 1


@dataclass
class PlanResult:
    creates: list[dict] = field(default_factory=list)
    updates: list[dict] = field(default_factory=list)
    unchanged: int = 0
    lifecycle: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)
    repairs: list[dict] = field(default_factory=list)  # link fields the run re-writes (cleared, cloned)
    recover: list[dict] = field(default_factory=list)  # records an earlier run left in doubt
    api_calls: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"version": JSON_VERSION, "creates": self.creates, "updates": self.updates,
                "unchanged": self.unchanged, "lifecycle": self.lifecycle, "quarantined": self.quarantined,
                "repairs": self.repairs, "recover": self.recover, "api_calls": self.api_calls}


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
        raise ConfigError(f"{path}: expected a query response, its `records` list, or `sf data query --json` "
                          "output")
    return data


def add_page(result: PlanResult, records: list[dict], mapping: Mapping, state: State | None) -> None:
    """List what the run's own page step decides for these records (``pipeline.plan_page``)."""
    page = plan_page(records, mapping, state)
    plan = page.plan
    result.creates += [{"id": c.row.record_id, "fields": c.row.fields} for c in plan.creates]
    result.updates += [{"id": u.row.record_id, "changed": u.changed} for u in plan.updates if u.changed]
    result.unchanged += len(plan.unchanged)
    result.lifecycle += [{"id": c.row.record_id, "status": str(c.status)} for c in plan.lifecycle]
    result.repairs += [{"id": record_id, "fields": values} for record_id, values in plan.repairs.items()]
    result.quarantined += [{"id": e.record_id, "field": e.field, "reason": e.reason}
                           for e in page.errors if e.record_id in page.quarantine]


def plan_sample(sample: Path, mapping_path: Path, state_path: Path | None) -> PlanResult:
    mapping = load_mapping(mapping_path)
    state = State.open_readonly(state_path) if state_path else None
    result = PlanResult()
    try:
        add_page(result, read_sample(sample), mapping, state)
    finally:
        if state is not None:
            state.close()
    return result


def plan_online(settings) -> PlanResult:
    """The next run's window, through the next run's page step: the records its recovery re-fetches
    (those left in doubt, listed under ``recover``), then the query it sends, extra Ids included."""
    mapping = load_mapping(settings.mapping)
    client, _psa = connect(settings)
    client.connect()
    state = State.open_readonly(settings.state)
    result = PlanResult()
    try:
        result.recover = [{"id": i.record_id, "action": i.action} for i in (state.intents() if state else [])]
        for records in next_run_pages(client, mapping, state):
            add_page(result, records, mapping, state)
    finally:
        if state is not None:
            state.close()
        result.api_calls = dict(client.usage.calls)
    return result
