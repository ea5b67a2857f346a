"""What psa-sync tells a person (text) or a machine (versioned JSON): run summaries, status, explain.

Read-only: the state file is opened read-only, so `status` and `explain` are safe while a run holds
the lock.
"""

from __future__ import annotations

import json
from typing import Any

from sync.common.ids import given_id
from sync.config import Settings
from sync.ops.status_stream import stream_line, stream_view
from sync.state import State, pipeline_rows
from sync.state import children as state_children
from sync.state.children import ChildRow

JSON_VERSION = 1


def run_summary(result: Any) -> str:
    counts = result.counts or {}
    shown = (
        ", ".join(f"{k} {v}" for k, v in counts.items() if v and k != "new_failures")
        or "nothing to do"
    )
    calls = result.api_calls or {}
    usage = result.org_usage or {}
    line = (
        f"run {result.run_id}: {result.status} (exit {result.exit_code}) — {shown}\n"
        f"  Salesforce calls this run: {sum(calls.values())} ({_calls(calls)}); "
        f"org usage {usage.get('used', '?')}/{usage.get('max', '?')}"
    )
    return line + (f"\n  error: {result.error}" if result.error else "")


def _calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(calls.items())) or "none"


def status_data(settings: Settings) -> dict[str, Any]:
    from sync.load.members import unmatched
    from sync.mapping.loader import load_mapping

    state = State.open_readonly(settings.state)
    current = load_mapping(settings.mapping).fingerprint
    if state is None:
        return {
            "version": JSON_VERSION,
            "state": str(settings.state),
            "exists": False,
            "runs": [],
            "mapping": {"current": current, "state": None, "changed": False},
        }
    try:
        from sync.extract.incremental import STREAM

        recorded = state.meta("mapping_fingerprint")
        older = len(state.older_mapping(current))
        watermark = state.watermark(STREAM)
        return {
            "version": JSON_VERSION,
            "state": str(settings.state),
            "exists": True,
            "org_id": state.meta("org_id"),
            "psa_url": state.meta("psa_url"),
            "watermark": watermark.isoformat() if watermark else None,
            "counts": state.counts(),
            "runs": state.runs(10),
            "quarantine": [
                _v1({k: q[k] for k in ("record_id", "stage", "error", "attempts", "last_seen")})
                for q in state.quarantined()
            ],
            "backfill": json.loads(state.meta("backfill") or "null"),
            "pipeline": pipeline_rows.counts(state),
            "members_unmatched": unmatched(state),
            "stream": stream_view(state, settings),
            "mapping": {
                "current": current,
                "state": recorded,
                "changed": recorded is not None and recorded != current,
                "links_on_older_mapping": older,
            },
        }
    finally:
        state.close()


def _v1(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A state row as JSON version 1 shows it: the record Id under ``opportunity_id``, its key before the
    state file's column became ``record_id`` (migration m006), so a consumer of the JSON sees no change."""
    if row is None or "record_id" not in row:
        return row
    return {("opportunity_id" if k == "record_id" else k): v for k, v in row.items()}


def status_text(data: dict[str, Any]) -> str:
    if not data["exists"]:
        return f"no state yet at {data['state']}: the first `psa-sync run` creates it"
    counts = data["counts"]
    lines = [
        f"state     {data['state']}",
        f"org       {data['org_id']}    PSA {data['psa_url']}",
        f"watermark {data['watermark'] or '(none yet)'}",
        f"links {counts['links']}   quarantine {counts['quarantine']}   outbox {counts['outbox']}   "
        f"intents {counts['intents']}   ignored {counts.get('ignored', 0)} (unlinked by hand)",
    ]
    if data.get("backfill"):
        lines.append(backfill_line(data["backfill"]))
    if data.get("pipeline"):
        lines.append(
            "pipeline  " + "   ".join(f"{k} {v}" for k, v in sorted(data["pipeline"].items()))
        )
    for person in data.get("members_unmatched") or []:
        lines.append(
            f"members   {person['record_id']}: no PSA user for {person['member']} <{person['email']}> "
            f"({person['role']}); add the user in the PSA and put them on the project"
        )
    if data.get("stream"):
        lines.append(stream_line(data["stream"]))
    if data["mapping"]["changed"]:
        lines.append("mapping   CHANGED since the last run")
    if data["mapping"].get("links_on_older_mapping"):
        lines.append(
            f"mapping   {data['mapping']['links_on_older_mapping']} linked deals keep values of an older "
            "mapping until they change, or `psa-sync reconcile --repair` re-applies it"
        )
    lines.append("")
    lines.append("last runs:")
    for run in data["runs"]:
        calls = run["api_calls"] or {}
        usage = run["org_usage"] or {}
        counts_text = ", ".join(f"{k} {v}" for k, v in (run["counts"] or {}).items() if v) or "-"
        lines.append(
            f"  #{run['id']} {run['mode']:<6} {run['started_at']}  {run['status']:<8} exit "
            f"{run['exit_code']}  {counts_text}"
        )
        lines.append(
            f"      Salesforce calls {sum(calls.values())} ({_calls(calls)}); org usage "
            f"{usage.get('used', '?')}/{usage.get('max', '?')}"
        )
        if run["error"]:
            lines.append(f"      error: {run['error']}")
    for q in data["quarantine"][:20]:
        lines.append(f"quarantined {q['opportunity_id']} [{q['stage']}] {q['error']}")
    return "\n".join(lines)


def backfill_line(progress: dict[str, Any]) -> str:
    """One line on the backfill in progress (or the last one)."""
    what = f"finished {progress['finished_at']}" if progress.get("finished_at") else "IN PROGRESS"
    counts = ", ".join(f"{k} {v}" for k, v in (progress.get("counts") or {}).items() if v) or "-"
    return (
        f"backfill  {progress['since']}..{progress['until']} {what}: {progress['done']}/{progress['total']} "
        f"deals ({progress.get('reader', 'rest')}; {counts}); last advanced {progress['advanced_at']}"
    )


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
            "events": [_v1(event) for event in state.events(record_id)],
            "quarantine": [_v1(q) for q in state.quarantined(record_id)],
            "outbox": state.outbox().get(record_id, {}),
            "ignored": _v1(state.ignored([record_id]).get(record_id)),
            "pipeline": _v1(pipeline_rows.row(state, record_id)),
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
            lines.append(
                f"  pending until the project is reopened: {values_text(link['pending_while_closed'])}"
            )
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
            f"  pipeline: {pipe['status']} — stage {pipe['stage']}, probability {pipe['probability']}, "
            f"amount {pipe['amount']}, close date {pipe['close_date']} (since {pipe['first_seen']})"
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


def values_text(values: Any) -> str:
    if isinstance(values, dict):
        return ", ".join(f"{k}={values_text(v)}" for k, v in values.items())
    return str(values)


def backfill_text(outcome: Any) -> str:
    """The one-line summary of a backfill (and, dry run, the first examples of each action)."""
    progress = outcome.progress
    counts = (
        ", ".join(f"{k} {v}" for k, v in progress.counts.items() if v and k != "extracted")
        or "nothing to do"
    )
    head = "backfill (dry run, nothing written)" if outcome.dry_run else "backfill"
    state = (
        "done" if progress.finished_at or outcome.dry_run else f"stopped (exit {outcome.exit_code})"
    )
    lines = [
        f"{head} {progress.since}..{progress.until}: {state} — {progress.done}/{progress.total} deals "
        f"read through {progress.reader.upper()}; {counts}",
        f"  Salesforce calls: {sum(outcome.api_calls.values())} ({_calls(outcome.api_calls)})",
    ]
    if not outcome.dry_run:
        lines.append(f"  longest hold of the run lock: {progress.longest_hold_s:.1f} s")
    for action, items in outcome.examples.items():
        for item in items:
            detail = (
                item.get("fields")
                or item.get("changed")
                or item.get("status")
                or item.get("reason")
                or ""
            )
            lines.append(
                f"  {action:<11} {item['id']}  {values_text(detail) if isinstance(detail, dict) else detail}"
            )
    if outcome.error:
        lines.append(f"  error: {outcome.error}")
    if progress.finished_at is None and not outcome.dry_run:
        lines.append("  the same command goes on from where this one stopped")
    return "\n".join(lines)
