"""What psa-sync writes into Salesforce, and the rule that makes it safe: a field flows one way.

``writeback`` puts the link (the project's id or URL) on the deal, ``backsync`` the PSA's delivery
values, ``structure.backsync`` the progress of the project's tasks. Ownership rules enforced at
load (docs/architecture.md §1.1): psa-sync writes only custom fields (``__c``), and a Salesforce
field has exactly one direction, so a field psa-sync writes may not also feed a project field nor
be written from two places.
"""

from __future__ import annotations

from typing import Any

from sync.common.problems import Problems, section
from sync.common.yamldoc import KeyPath
from sync.mapping.fields import parse_rule
from sync.mapping.model import FieldRule
from sync.mapping.names import API_NAME

LINK_VALUES = ("project.id", "project.url")


def _sf_target(name: Any, path: KeyPath, problems: Problems) -> bool:
    if not isinstance(name, str) or not API_NAME.match(name):
        problems.add(path, f"{name!r} is not a Salesforce field name")
        return False
    if not name.lower().endswith("__c"):
        problems.add(
            path, f"psa-sync writes only custom fields (ending in __c); {name} is a standard field"
        )
        return False
    return True


def parse_writeback(value: Any, problems: Problems) -> dict[str, str]:
    """Salesforce field → the link value written into it (the project's id or URL)."""
    raw = section(value, ("writeback",), problems)
    out: dict[str, str] = {}
    for name, target in raw.items():
        path = ("writeback", str(name))
        if not _sf_target(name, path, problems):
            continue
        if target not in LINK_VALUES:
            problems.add(path, f"{target!r} is not one of: {', '.join(LINK_VALUES)}")
        elif target in out.values():
            problems.add(path, f"{target} is already written to another field")
        else:
            out[name] = target
    return out


def parse_backsync(value: Any, problems: Problems) -> dict[str, FieldRule]:
    """Salesforce field → the rule over a PSA delivery value that makes its value."""
    raw = section(value, ("backsync",), problems)
    out: dict[str, FieldRule] = {}
    for name, rule_raw in raw.items():
        path = ("backsync", str(name))
        if _sf_target(name, path, problems):
            rule = parse_rule(rule_raw, path, problems, backsync=True)
            if rule is not None:
                out[name] = rule
    return out


def check_directions(
    fields: dict[str, FieldRule],
    writeback: dict[str, str],
    backsync: dict[str, FieldRule],
    key: str,
    problems: Problems,
    progress: list[str] | None = None,
) -> None:
    """Each Salesforce field flows one way only (docs/architecture.md §1.1); ``progress``: the
    fields ``structure.backsync`` writes, which no other section may read or write."""
    readers: dict[str, str] = {key.lower(): "key"}
    for name, rule in fields.items():
        for read in rule.read_fields():
            readers.setdefault(read.lower(), f"project.fields.{name}")
    _check_written(writeback, backsync, readers, problems)
    _check_progress(progress or [], writeback, backsync, readers, problems)


def _check_written(
    writeback: dict[str, str],
    backsync: dict[str, FieldRule],
    readers: dict[str, str],
    problems: Problems,
) -> None:
    backsync_lower = {f.lower(): f for f in backsync}
    for writer, names in (("writeback", list(writeback)), ("backsync", list(backsync))):
        for name in names:
            if name.lower() in readers:
                problems.add(
                    (writer, name),
                    f"{name} is also read by {readers[name.lower()]}; "
                    "a field flows in one direction only",
                )
            if writer == "writeback" and name.lower() in backsync_lower:
                other = backsync_lower[name.lower()]
                problems.add(
                    (writer, name),
                    f"{name} is listed in both writeback and backsync "
                    f"(line {problems.doc.line(('backsync', other))})",
                )


def _check_progress(
    progress: list[str],
    writeback: dict[str, str],
    backsync: dict[str, FieldRule],
    readers: dict[str, str],
    problems: Problems,
) -> None:
    others = {
        name.lower(): writer
        for writer, names in (("writeback", writeback), ("backsync", backsync))
        for name in names
    }
    for name in progress:
        where = ("structure", "backsync", name)
        if name.lower() in readers:
            problems.add(
                where,
                f"{name} is also read by {readers[name.lower()]}; "
                "a field flows in one direction only",
            )
        elif name.lower() in others:
            problems.add(
                where,
                f"{name} is also written by {others[name.lower()]}; psa-sync writes a field "
                "from one place only",
            )
