"""What psa-sync tells a person (text) or a machine (versioned JSON): run summaries, `status`.

Read-only: the state file is opened read-only, so `status` is safe while a run holds the lock.
`explain` (:mod:`sync.ops.explain`) shares the JSON version and the text of values kept here.
"""

from __future__ import annotations

import json
from typing import Any

from sync.config import Settings
from sync.ops.status_stream import stream_line, stream_view
from sync.state import State, pipeline_rows

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
                as_v1({k: q[k] for k in ("record_id", "stage", "error", "attempts", "last_seen")})
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


def as_v1(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A state row as JSON version 1 shows it: the record Id under ``opportunity_id``.

    That was its key before the state file's column became ``record_id`` (migration m006), so a
    consumer of the JSON sees no change.
    """
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
        f"links {counts['links']}   quarantine {counts['quarantine']}   "
        f"outbox {counts['outbox']}   intents {counts['intents']}   "
        f"ignored {counts.get('ignored', 0)} (unlinked by hand)",
    ]
    if data.get("backfill"):
        lines.append(backfill_line(data["backfill"]))
    if data.get("pipeline"):
        lines.append(
            "pipeline  " + "   ".join(f"{k} {v}" for k, v in sorted(data["pipeline"].items()))
        )
    for person in data.get("members_unmatched") or []:
        lines.append(
            f"members   {person['record_id']}: "
            f"no PSA user for {person['member']} <{person['email']}> ({person['role']}); "
            "add the user in the PSA and put them on the project"
        )
    if data.get("stream"):
        lines.append(stream_line(data["stream"]))
    if data["mapping"]["changed"]:
        lines.append("mapping   CHANGED since the last run")
    if data["mapping"].get("links_on_older_mapping"):
        lines.append(
            f"mapping   {data['mapping']['links_on_older_mapping']} linked deals "
            "keep values of an older mapping until they change, "
            "or `psa-sync reconcile --repair` re-applies it"
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
        f"backfill  {progress['since']}..{progress['until']} {what}: "
        f"{progress['done']}/{progress['total']} deals "
        f"({progress.get('reader', 'rest')}; {counts}); last advanced {progress['advanced_at']}"
    )


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
        f"{head} {progress.since}..{progress.until}: {state} — "
        f"{progress.done}/{progress.total} deals read through {progress.reader.upper()}; {counts}",
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
            shown = values_text(detail) if isinstance(detail, dict) else detail
            lines.append(f"  {action:<11} {item['id']}  {shown}")
    if outcome.error:
        lines.append(f"  error: {outcome.error}")
    if progress.finished_at is None and not outcome.dry_run:
        lines.append("  the same command goes on from where this one stopped")
    return "\n".join(lines)
