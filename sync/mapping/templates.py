"""One template file of the ``structure:`` section: phases and tasks, validated with file:line.

A template lives beside the mapping (``templates/implementation.yaml``, a path relative to the
mapping's folder) so a delivery manager can own it apart from the field mapping. Its problems name
the template file and its line, the way the mapping's own do; the mapping's problem list takes them.

Every phase and task has an explicit ``id``: it is part of the child's key in the PSA
(``<deal key>/t:<id>``), so it must stay the same when someone renames the phase or fixes a typo in
a task's name. An id derived from the name would turn a rename into a second child.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sync.common.errors import ConfigError
from sync.common.problems import Problems, kind_of, unknown_keys
from sync.common.yamldoc import KeyPath, load_yaml
from sync.mapping.structure_rules import (
    DateSyntaxError,
    Template,
    TemplateItem,
    parse_relative_date,
)

TEMPLATE_KEYS = ("name", "phases", "tasks", "line_item_phase")
PHASE_KEYS = ("id", "name", "due")
TASK_KEYS = ("id", "name", "phase", "hours", "role", "start", "due")
ITEM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}\Z")
PHASE_NAME_MAX = 60  # Redmine: a version's name
TASK_NAME_MAX = 255  # Redmine: an issue's subject


def load_template(
    mapping_path: Path, ref: str, where: KeyPath, problems: Problems
) -> Template | None:
    """Read the template ``ref`` (relative to the mapping's folder); its problems join ``problems``
    (the reference's own, missing file or not YAML, at the mapping's ``where``)."""
    if Path(ref).is_absolute() or "\0" in ref:
        problems.add(where, f"{ref!r}: give the template's path relative to the mapping's folder")
        return None
    # `../templates/x.yaml` named as a person reads it
    path = Path(os.path.normpath(mapping_path.parent / ref))
    try:
        doc = load_yaml(path, "template")
    except FileNotFoundError:
        problems.add(where, f"the template file {path} does not exist")
        return None
    except ConfigError as exc:  # unreadable, not UTF-8, not YAML: said at the template's own line
        problems.items.extend(exc.problems)
        return None
    own = Problems(str(path), doc)
    template = _template(doc.data, ref, own)
    problems.items.extend(own.items)
    return template if not own.items else None


def _template(data: Any, ref: str, problems: Problems) -> Template | None:
    if not isinstance(data, dict):
        problems.add(
            (),
            f"a template is a YAML mapping with keys {', '.join(TEMPLATE_KEYS)}, "
            f"not {kind_of(data)}",
        )
        return None
    unknown_keys(data, (), TEMPLATE_KEYS, problems)
    name = data.get("name", Path(ref).stem)
    if not isinstance(name, str) or not name.strip():
        problems.add(("name",), f"must be text naming the template, not {kind_of(name)}")
    phases = _items(data.get("phases"), "phases", PHASE_KEYS, problems)
    ids = _unique_ids(phases, {}, problems)
    tasks = _items(data.get("tasks"), "tasks", TASK_KEYS, problems)
    _unique_ids(tasks, ids, problems)
    known = [p.id for _, p in phases]
    for where, task in tasks:
        if task.phase is not None and task.phase not in known:
            problems.add((*where, "phase"), _unknown_phase(task.phase, known))
    line_item_phase = data.get("line_item_phase")
    if line_item_phase is not None and line_item_phase not in known:
        problems.add(("line_item_phase",), _unknown_phase(line_item_phase, known))
    _unique_phase_names(phases, problems)
    return Template(
        name=str(name),
        path=ref,
        phases=tuple(p for _, p in phases),
        tasks=tuple(t for _, t in tasks),
        line_item_phase=line_item_phase if isinstance(line_item_phase, str) else None,
    )


def _unknown_phase(name: Any, known: list[str]) -> str:
    return f"{name!r} is not a phase of this template; its phases: {', '.join(known) or '(none)'}"


def _items(
    raw: Any, section: str, keys: tuple[str, ...], problems: Problems
) -> list[tuple[KeyPath, TemplateItem]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add(
            (section,),
            f"must be a list of {section}, each with {', '.join(keys)}; not {kind_of(raw)}",
        )
        return []
    out = []
    for index, entry in enumerate(raw):
        where = (section, index)
        if not isinstance(entry, dict):
            problems.add(
                where, f"must be a mapping with keys {', '.join(keys)}, not {kind_of(entry)}"
            )
            continue
        unknown_keys(entry, where, keys, problems)
        item = _item(entry, where, section == "tasks", problems)
        if item is not None:
            out.append((where, item))
    return out


def _item(entry: dict, where: KeyPath, task: bool, problems: Problems) -> TemplateItem | None:
    item_id = entry.get("id")
    if not isinstance(item_id, str) or not ITEM_ID.match(item_id):
        problems.add(
            (*where, "id"),
            "missing: every phase and task needs a stable `id` (it is part of the child's "
            "key in the PSA, so renaming never makes a second one)"
            if item_id is None
            else f"{item_id!r} is not an id "
            "(letters, digits, _ . -, at most 40, starting with a letter or digit)",
        )
    name = _name(
        entry.get("name"), (*where, "name"), TASK_NAME_MAX if task else PHASE_NAME_MAX, problems
    )
    values: dict[str, Any] = {"due": _date(entry, "due", where, problems)}
    if task:
        values.update(
            phase=_text(entry, "phase", where, problems),
            role=_text(entry, "role", where, problems),
            hours=_hours(entry.get("hours"), (*where, "hours"), problems),
            start=_date(entry, "start", where, problems),
        )
    if not isinstance(item_id, str) or not ITEM_ID.match(item_id):
        # kept when only its other values are wrong, so tasks naming it do not fail as well
        return None
    return TemplateItem(id=item_id, name=name, line=problems.doc.line(where), **values)


def _name(value: Any, where: KeyPath, limit: int, problems: Problems) -> str:
    if not isinstance(value, str) or not value.strip():
        problems.add(
            where,
            "missing: a name the PSA shows"
            if value is None
            else f"must be text, not {kind_of(value)}",
        )
        return ""
    if len(value) > limit:
        problems.add(where, f"is {len(value)} characters; the PSA keeps at most {limit}")
    return value.strip()


def _text(entry: dict, key: str, where: KeyPath, problems: Problems) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add((*where, key), f"must be text, not {kind_of(value)}")
        return None
    return value.strip()


def _hours(value: Any, where: KeyPath, problems: Problems) -> Decimal | None:
    if value is None:
        return None
    try:
        hours = (
            Decimal(str(value))
            if isinstance(value, (int, float, str)) and not isinstance(value, bool)
            else None
        )
    except InvalidOperation:
        hours = None
    if hours is None or not hours.is_finite() or hours < 0:
        problems.add(where, f"{value!r} is not a number of hours (0 or more, such as 4 or 7.5)")
        return None
    return hours


def _date(entry: dict, key: str, where: KeyPath, problems: Problems):
    if key not in entry:
        return None
    try:
        return parse_relative_date(entry[key])
    except DateSyntaxError as exc:
        problems.add((*where, key), str(exc))
        return None


def _unique_ids(
    items: list[tuple[KeyPath, TemplateItem]], seen: dict[str, int], problems: Problems
) -> dict[str, int]:
    """Phase and task ids share one namespace: both are ``t:<id>`` in the child key."""
    for where, item in items:
        if item.id in seen:
            problems.add(
                (*where, "id"),
                f"duplicate id '{item.id}' (first at line {seen[item.id]}); each phase and "
                "task of a template needs its own",
            )
        else:
            seen[item.id] = item.line
    return seen


def _unique_phase_names(phases: list[tuple[KeyPath, TemplateItem]], problems: Problems) -> None:
    """Redmine refuses two versions of one project with the same name."""
    seen: dict[str, int] = {}
    for where, phase in phases:
        folded = phase.name.casefold()
        if folded in seen:
            problems.add(
                (*where, "name"),
                f"another phase has the name {phase.name!r} (line {seen[folded]}); "
                "the PSA needs phase names unique within a project",
            )
        else:
            seen[folded] = phase.line
