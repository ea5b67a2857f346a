"""`psa-sync explain ID`: everything the state file knows and did about one deal.

Read-only: the state file is opened read-only, so `explain` is safe while a run holds the lock.
Its JSON is versioned like `status`'s (:data:`sync.ops.report.JSON_VERSION`).
"""

from __future__ import annotations

from typing import Any

from sync.common.ids import given_id
from sync.config import Settings
from sync.ops.report import JSON_VERSION, as_v1, values_text
from sync.state import State, pipeline_rows
from sync.state import children as state_children
from sync.state.children import ChildRow


def explain_data(settings: Settings, deal_id: str) -> dict[str, Any]:
    record_id = given_id(deal_id)
    state = State.open_readonly(settings.state)
    if state is None:
        return {
            "version": JSON_VERSION,
            "id": record_id,
            "link": None,
            "events": [],
            "quarantine": [],
            "outbox": {},
            "ignored": None,
            "pipeline": None,
        }
    try:
        link = state.links([record_id]).get(record_id)
        return {
            "version": JSON_VERSION,
            "id": record_id,
            "link": None
            if link is None
            else {
                "project_id": link.project_id,
                "project_url": link.project_url,
                "state": link.link_state,
                "salesforce_status": link.sf_status,
                "closed_by": link.closed_by,
                "values": link.payload,
                "written_to_salesforce": link.written,
                "pending_while_closed": link.pending,
                "kept_psa_fields": link.kept_psa,
            },
            "events": [as_v1(event) for event in state.events(record_id)],
            "quarantine": [as_v1(q) for q in state.quarantined(record_id)],
            "outbox": state.outbox().get(record_id, {}),
            "ignored": as_v1(state.ignored([record_id]).get(record_id)),
            "pipeline": as_v1(pipeline_rows.row(state, record_id)),
            "children": [
                _child(row)
                for row in state_children.children_of(state, [record_id])
                .get(record_id, {})
                .values()
            ],
        }
    finally:
        state.close()


def explain_text(data: dict[str, Any]) -> str:
    lines = [f"deal {data['id']}"]
    link = data["link"]
    if link is None:
        lines.append("  not linked to any project")
    else:
        lines.append(
            f"  project {link['project_id']} {link['project_url']} ({link['state']}, Salesforce "
            f"status {link['salesforce_status']}, closed by {link['closed_by'] or '-'})"
        )
        lines.append(f"  mapped values: {values_text(link['values'])}")
        lines.append(f"  written to Salesforce: {values_text(link['written_to_salesforce'])}")
        if link["pending_while_closed"]:
            pending = values_text(link["pending_while_closed"])
            lines.append(f"  pending until the project is reopened: {pending}")
        if link["kept_psa_fields"]:
            lines.append(
                f"  fields kept as edited in the PSA: {', '.join(link['kept_psa_fields'])}"
            )
    if data.get("ignored"):
        ignored, deal = data["ignored"], data["id"]
        lines.append(
            f"  IGNORED since {ignored['since']}: unlinked by hand from project "
            f"{(ignored['detail'] or {}).get('project_id')}, so no run makes a project for it; "
            f"`psa-sync link {deal} PROJECT` or `psa-sync retry --id {deal}` ends it"
        )
    if pipe := data.get("pipeline"):
        lines.append(
            f"  pipeline: {pipe['status']} — stage {pipe['stage']}, "
            f"probability {pipe['probability']}, amount {pipe['amount']}, "
            f"close date {pipe['close_date']} (since {pipe['first_seen']})"
        )
    for child in data.get("children") or ():
        made = f"#{child['child_id']}" if child["child_id"] else "INTENT (not confirmed yet)"
        lines.append(
            f"  {child['kind']} {child['name']!r} {made} {child['status']}"
            + "".join(f"  {k} {child[k]}" for k in ("hours", "role", "due") if child[k] is not None)
            + (f"  ({child['note']})" if child["note"] else "")
        )
    if data["outbox"]:
        lines.append(f"  waiting to be written to Salesforce: {values_text(data['outbox'])}")
    for q in data["quarantine"]:
        lines.append(f"  QUARANTINED at {q['stage']}: {q['error']} (attempts {q['attempts']})")
    lines.append("  history:")
    for event in data["events"]:
        detail = event["detail"]
        lines.append(
            f"    {event['at']} run {event['run_id']}: {event['action']} → {event['outcome']}"
            + (f"  {values_text(detail)}" if detail else "")
        )
    return "\n".join(lines)


def _child(row: ChildRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "kind": row.kind.value,
        "name": row.name,
        "child_id": row.child_id,
        "status": row.status,
        "phase": row.phase,
        "hours": row.hours,
        "role": row.role,
        "due": row.due,
        "line_item": row.line_item,
        "note": row.note,
    }
