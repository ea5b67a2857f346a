"""`psa-sync plan`'s text: the next run's actions, a create's phases and tasks as a tree, and the
children a linked deal's pass would add, flag or re-estimate."""

from __future__ import annotations

from typing import Any

from sync.ops.report import values_text


def plan_text(result: Any) -> str:
    counts = result.counts
    lines = [
        f"{counts['creates']} to create, {counts['updates']} to update, "
        f"{result.unchanged} unchanged, {counts['lifecycle']} lifecycle, "
        f"{counts['repairs']} link repairs, {counts['quarantined']} quarantined"
        + (f", {counts['pipeline']} pipeline deals" if counts.get("pipeline") else "")
    ]
    for item in result.recover:
        lines.append(
            f"  recover {item['id']}  "
            f"({item['action']} left in doubt by an earlier run; looked up first)"
        )
    for item in result.creates:
        lines.append(f"  create  {item['id']}  {values_text(item['fields'])}")
        if item.get("structure"):
            lines.extend(structure_lines(item["structure"], "          "))
    for item in result.updates:
        lines.append(f"  update  {item['id']}  {values_text(item['changed'])}")
    for item in result.lifecycle:
        lines.append(f"  status  {item['id']}  → {item['status']}")
    for item in result.repairs:
        lines.append(f"  repair  {item['id']}  {values_text(item['fields'])}")
    for item in result.quarantined:
        lines.append(f"  QUARANTINE {item['id']}  {item['reason']}")
    for item in result.children:
        done = [
            f"+ {c['kind']} {c['name']!r}" + (f" {c['hours']} h" if c["hours"] is not None else "")
            for c in item["create"]
        ]
        done += [f"flag {c['name']!r} (its line item left the deal)" for c in item["flag"]]
        done += [
            f"estimate {c['name']!r} {c['from']} → {c['to']} h (if no time is logged)"
            for c in item["estimates"]
        ]
        lines.append(f"  plan    {item['id']}  {'; '.join(done)}")
    for item in result.pipeline:
        lines.append(
            f"  pipeline {item['id']}  {item['status']} ({item['stage']}, {item['probability']}%)"
        )
    cut = [
        f"{counts[kind] - len(getattr(result, kind))} more {kind}"
        for kind in counts
        if counts[kind] > len(getattr(result, kind))
    ]
    if cut:
        lines.append(
            f"  … and {', '.join(cut)} (the first {result.examples} of each are shown; "
            "`plan --jsonl` lists every action)"
        )
    return "\n".join(lines)


def structure_lines(tree: dict[str, Any], indent: str) -> list[str]:
    """A create's phases and tasks as a tree.

    Each phase with its tasks, then the tasks under no phase.
    """
    by_role = ", ".join(f"{role} {hours} h" for role, hours in tree["hours_by_role"].items())
    lines = [
        f"{indent}structure {tree['template'] or '(no template)'}: "
        f"{_count(len(tree['phases']), 'phase')}, {_count(len(tree['tasks']), 'task')}, "
        f"{tree['hours']} h" + (f" ({by_role})" if by_role else "")
    ]
    for phase in tree["phases"]:
        lines.append(
            f"{indent}  phase {phase['name']}" + (f"  due {phase['due']}" if phase["due"] else "")
        )
        lines.extend(
            f"{indent}    {_task(task)}" for task in tree["tasks"] if task["phase"] == phase["key"]
        )
    lines.extend(f"{indent}  {_task(task)}" for task in tree["tasks"] if task["phase"] is None)
    return lines


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _task(task: dict[str, Any]) -> str:
    parts = [f"task {task['name']}"]
    if task["hours"] is not None:
        parts.append(f"{task['hours']} h")
    if task["role"]:
        parts.append(task["role"])
    if task["start"] or task["due"]:
        parts.append(f"{task['start'] or '…'} → {task['due'] or '…'}")
    if task["line_item"]:
        parts.append(f"line item {task['line_item']}")
    return "  ".join(parts)
