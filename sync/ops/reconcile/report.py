"""What reconcile found and did: one report.

Versioned as JSON for a machine, and as text for a person.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sync.common.errors import BudgetExceededError
from sync.ops.reconcile.model import KINDS, Drift

JSON_VERSION = 1
EXAMPLES = 50  # examples listed per kind of drift


@dataclass
class ReconcileReport:
    """What reconcile found and did; ``to_json()`` is versioned, ``text()`` is for a person."""

    repair: bool
    run_id: int | None = None
    drift: list[Drift] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    api_calls: dict[str, int] = field(default_factory=dict)
    org_usage: dict | None = None
    repair_counts: dict[str, int] = field(default_factory=dict)
    new_failures: int = 0
    error: str | None = None
    error_code: int | None = None

    @property
    def remaining(self) -> list[Drift]:
        return [d for d in self.drift if d.status != "repaired"]

    @property
    def exit_code(self) -> int:
        if self.error_code is not None:
            return self.error_code
        return 1 if self.remaining or self.new_failures else 0

    @property
    def status(self) -> str:
        if self.error_code is not None:
            return "stopped" if self.error_code == BudgetExceededError.exit_code else "failed"
        return "drift" if self.exit_code else "ok"

    def by_kind(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            items = [d for d in self.drift if d.kind == kind]
            statuses = Counter(d.status for d in items)
            out[kind] = {
                "found": len(items),
                "repaired": statuses["repaired"],
                "remaining": len(items) - statuses["repaired"],
                "examples": [d.to_json() for d in items[:EXAMPLES]],
            }
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "version": JSON_VERSION,
            "run_id": self.run_id,
            "repair": self.repair,
            "status": self.status,
            "exit_code": self.exit_code,
            "consistent": not self.drift,
            "checked": self.checked,
            "drift": self.by_kind(),
            "remaining": len(self.remaining),
            "salesforce_calls": {
                "total": sum(self.api_calls.values()),
                "by_endpoint": self.api_calls,
            },
            "org_usage": self.org_usage,
            "repair_run": self.repair_counts,
            "error": self.error,
        }

    def text(self) -> str:
        c = self.checked
        mode = "repair" if self.repair else "report only"
        lines = [
            f"reconcile ({mode}): {len(self.drift)} drifted, {len(self.remaining)} remaining — "
            f"{c.get('matching', '?')} deals match the criteria, {c.get('linked', '?')} links, "
            f"{c.get('projects', '?')} PSA projects with a key, "
            f"{c.get('next_run', 0)} left to the next run"
        ]
        for kind, summary in self.by_kind().items():
            if not summary["found"]:
                continue
            lines.append(
                f"  {kind:<18} {summary['found']} found, "
                f"{summary['repaired']} repaired: {KINDS[kind]}"
            )
            lines += _examples(summary["examples"], show_status=self.repair)
        calls = ", ".join(f"{k} {v}" for k, v in sorted(self.api_calls.items())) or "none"
        usage = self.org_usage or {}
        lines.append(
            f"  Salesforce calls: {sum(self.api_calls.values())} ({calls}); org usage "
            f"{usage.get('used', '?')}/{usage.get('max', '?')}"
        )
        if self.repair_counts:
            lines.append(
                "  repair: " + ", ".join(f"{k} {v}" for k, v in self.repair_counts.items())
            )
        if self.error:
            lines.append(f"  error: {self.error}")
        elif not self.drift:
            lines.append("  consistent: every invariant holds")
        elif self.remaining and not self.repair:
            lines.append("  `psa-sync reconcile --repair` fixes what can be fixed safely")
        return "\n".join(lines)


def _examples(examples: list[dict], *, show_status: bool) -> list[str]:
    """One line per example with a detail; bare Ids four to a line."""
    lines, bare = [], []
    for item in examples:
        who = item["id"] or f"key {item['key']}"
        status = f"  [{item['status']}]" if show_status else ""
        if item["detail"]:
            lines.append(f"      {who}  {item['detail']}{status}")
        else:
            bare.append(f"{who}{status}")
    lines += ["      " + "  ".join(bare[i : i + 4]) for i in range(0, len(bare), 4)]
    return lines
