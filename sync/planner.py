"""`psa-sync plan`: what a run would do — extract, transform and diff only; nothing is written.

With ``--sample`` it runs offline over records in the REST shape (a query response, its
``records`` list, or the output of ``sf data query --json``), so a mapping change can be proven in
a pull request with no connection to anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync import extract
from sync.diff import plan_changes
from sync.errors import ConfigError
from sync.mapping.loader import load_mapping
from sync.mapping.model import Mapping
from sync.model import facts_of
from sync.state.store import State
from sync.transform.rows import transform

JSON_VERSION = 1


@dataclass
class PlanResult:
    creates: list[dict] = field(default_factory=list)
    updates: list[dict] = field(default_factory=list)
    unchanged: int = 0
    lifecycle: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"version": JSON_VERSION, "creates": self.creates, "updates": self.updates,
                "unchanged": self.unchanged, "lifecycle": self.lifecycle, "quarantined": self.quarantined,
                "api_calls": self.api_calls}


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
    transformed = transform(records, mapping)
    ids = [r.record_id for r in transformed.rows]
    links = state.links(ids) if state is not None else {}
    plan = plan_changes(transformed.rows, links, writeback=mapping.writeback,
                        on_create=mapping.on_create_fields(), facts=facts_of(records))
    result.creates += [{"id": c.row.record_id, "fields": c.row.fields} for c in plan.creates]
    result.updates += [{"id": u.row.record_id, "changed": u.changed} for u in plan.updates if u.changed]
    result.unchanged += len(plan.unchanged)
    result.lifecycle += [{"id": c.row.record_id, "status": c.status} for c in plan.lifecycle]
    result.quarantined += [{"id": e.record_id, "field": e.field, "reason": e.reason}
                           for e in transformed.errors if e.matches and not e.deleted]


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
    from sync.pipeline import connect, signpost_of

    mapping = load_mapping(settings.mapping)
    client, _psa = connect(settings)
    client.connect()
    state = State.open_readonly(settings.state)
    result = PlanResult()
    try:
        watermark = state.watermark(extract.STREAM) if state else None
        soql = extract.build_query(mapping, start=extract.since(watermark, mapping),
                                   signpost=signpost_of(client.server_time))
        for records in extract.pages(client, soql):
            add_page(result, records, mapping, state)
    finally:
        if state is not None:
            state.close()
        result.api_calls = dict(client.usage.calls)
    return result
