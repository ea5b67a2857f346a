"""What ``adopt`` and ``link`` tell a person or a machine.

A person gets text with the first examples of each answer, a machine versioned JSON with every
item: matched one-to-one, ambiguous, deals with no project, projects with no deal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sync.ops.adopt.apply import Applied
from sync.ops.adopt.match import HandProject, Matching, Pair, Universe

JSON_VERSION = 1
SHOWN = 20  # items of each list in the text report; --json lists them all


@dataclass
class AdoptReport:
    """The report of one ``adopt`` (or ``link``): what matched, and what ``--apply`` did with it."""

    matching: Matching
    universe: Universe
    since: date | None = None
    until: date | None = None
    read: dict[str, Any] = field(default_factory=dict)  # deals counted, reader (rest | bulk)
    applied: Applied | None = None
    criteria: str | None = None

    @property
    def exit_code(self) -> int:
        return self.applied.exit_code if self.applied is not None else 0

    def counts(self) -> dict[str, int]:
        matching = self.matching
        counts = {
            "matched": len(matching.matched),
            "ambiguous": len(matching.ambiguous),
            "deals_without_project": len(matching.deals_alone),
            "projects_without_deal": len(matching.projects_alone),
            "already_linked": len(self.universe.linked),
            "ignored": len(self.universe.ignored & set(self.universe.rows)),
            "not_mapped": len(self.universe.not_mapped()),
        }
        if self.applied is not None:
            counts.update(
                linked=len(self.applied.linked),
                failed=len(self.applied.failed),
                linked_meanwhile=len(self.applied.skipped),
            )
        return counts

    def to_json(self) -> dict[str, Any]:
        applied = self.applied
        return {
            "version": JSON_VERSION,
            "applied": applied is not None,
            "exit_code": self.exit_code,
            "error": applied.error if applied else None,
            "range": {"since": _iso(self.since), "until": _iso(self.until)},
            "read": self.read,
            "counts": self.counts(),
            "matched": [_pair(p) for p in self.matching.matched],
            "ambiguous": [
                {
                    "name": a.name,
                    "deals": [_deal(r) for r in a.deals],
                    "projects": [_project(p) for p in a.projects],
                }
                for a in self.matching.ambiguous
            ],
            "deals_without_project": [_deal(r) for r in self.matching.deals_alone],
            "projects_without_deal": [_project(p) for p in self.matching.projects_alone],
            "not_mapped": [
                {"id": i, "reason": why} for i, why in sorted(self.universe.not_mapped().items())
            ],
            "failed": [
                {"id": i, "reason": why}
                for i, why in sorted((applied.failed if applied else {}).items())
            ],
            "salesforce_calls": applied.api_calls if applied else {},
        }

    def text(self) -> str:
        counts, matching = self.counts(), self.matching
        scope = f" ({self.criteria})" if self.criteria else ""
        if self.since or self.until:
            scope += f", CloseDate {_iso(self.since) or '…'}..{_iso(self.until) or '…'}"
        head = (
            "adopt --apply"
            if self.applied is not None
            else "adopt (a report: nothing was written; --apply links the one-to-one matches)"
        )
        lines = [
            f"{head}: {self.read.get('deals', '?')} deals of the criteria{scope}, "
            f"{counts['already_linked']} already linked, "
            f"{counts['ignored']} ignored (unlinked by hand)",
            f"  matched one-to-one     {counts['matched']:>6}",
            f"  ambiguous              {counts['ambiguous']:>6}   never linked automatically: "
            "pair them with --pairs FILE or `psa-sync link`",
            f"  deals with no project  {counts['deals_without_project']:>6}   "
            "a backfill creates their projects",
            f"  projects with no deal  {counts['projects_without_deal']:>6}   left as they are",
            f"  deals that do not map  {counts['not_mapped']:>6}   "
            "a run or backfill quarantines them",
        ]
        if self.applied is not None:
            applied = self.applied
            lines.append(
                f"  linked {len(applied.linked)}, failed {len(applied.failed)}, "
                f"linked meanwhile by a run {len(applied.skipped)}; exit {applied.exit_code}"
            )
        lines += _section(
            "matched",
            [
                f"{p.row.record_id}  {_quoted(p.row.fields.get('name'))}  →  project "
                f"{p.project.id} {p.project.identifier} {_quoted(p.project_name)} (by {p.by})"
                for p in matching.matched
            ],
        )
        lines += _section(
            "ambiguous",
            [
                f"{_quoted(a.name)}: deals {', '.join(r.record_id for r in a.deals)}; projects "
                f"{', '.join(f'{p.ref.id} {p.ref.identifier}' for p in a.projects)}"
                for a in matching.ambiguous
            ],
        )
        lines += _section(
            "deals with no project",
            [f"{r.record_id}  {_quoted(r.fields.get('name'))}" for r in matching.deals_alone],
        )
        lines += _section(
            "projects with no deal",
            [f"{p.ref.id} {p.ref.identifier}  {_quoted(p.name)}" for p in matching.projects_alone],
        )
        lines += _section(
            "do not map", [f"{i}  {why}" for i, why in sorted(self.universe.not_mapped().items())]
        )
        if self.applied is not None:
            lines += _section(
                "failed", [f"{i}  {why}" for i, why in sorted(self.applied.failed.items())]
            )
            if self.applied.error:
                lines.append(f"  error: {self.applied.error}")
        return "\n".join(lines)


def _section(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    more = (
        [f"  … and {len(items) - SHOWN} more (--json lists them all)"] if len(items) > SHOWN else []
    )
    return [f"{title}:", *(f"  {item}" for item in items[:SHOWN]), *more]


def _quoted(text: Any) -> str:
    return f'"{text}"' if text else "(no name)"


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _deal(row) -> dict[str, Any]:
    return {"id": row.record_id, "name": row.fields.get("name")}


def _project(project: HandProject) -> dict[str, Any]:
    return {
        "id": project.ref.id,
        "identifier": project.ref.identifier,
        "name": project.name,
        "url": project.ref.url,
        "status": project.ref.status,
    }


def _pair(pair: Pair) -> dict[str, Any]:
    return {
        **_deal(pair.row),
        "by": pair.by,
        "line": pair.line,
        "project": {
            "id": pair.project.id,
            "identifier": pair.project.identifier,
            "name": pair.project_name,
            "url": pair.project.url,
        },
    }


def link_text(report: AdoptReport) -> str:
    """One line for ``psa-sync link``: the pair linked, or why not."""
    applied = report.applied
    lines = []
    for pair in report.matching.matched:
        record_id, project = pair.row.record_id, pair.project
        if applied is not None and record_id in applied.linked:
            lines.append(
                f"linked deal {record_id} to project "
                f"{project.id} {project.identifier} ({project.url}); "
                "its link fields are written back to the deal"
            )
        elif applied is not None and record_id in applied.skipped:
            lines.append(
                f"deal {record_id} was linked meanwhile (a run adopted it); nothing changed"
            )
        else:
            why = applied.failed.get(record_id, applied.error) if applied is not None else None
            lines.append(
                f"deal {record_id} was not linked to project {project.id}: {why or 'see the log'}"
            )
    return "\n".join(lines)
