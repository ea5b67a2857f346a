"""Load and validate a mapping file (README.md, "The mapping language") into typed, frozen objects.

Every problem is collected before anything is raised, and each one reads
``file:line: key.path: message`` so a person fixes a mapping in one pass. The YAML is read
with a safe loader that keeps positions (:mod:`sync.common.yamldoc`); one field rule's grammar
lives in :mod:`sync.mapping.fields`; the objects built are in :mod:`sync.mapping.model`; the
checks that span sections (directions, link fields, criteria) are here.

Ownership rules enforced at load (docs/architecture.md §1.1): a Salesforce field has exactly one direction,
so a ``writeback``/``backsync`` target may not also feed a project field; psa-sync writes only
custom fields (``__c``); criteria may not read fields psa-sync itself writes, or a write-back
would change which records are in scope.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sync.common.errors import ConfigError, MappingError
from sync.common.yamldoc import KeyPath, Problems, load_yaml, unknown_keys
from sync.extract import soql
from sync.mapping.fields import parse_rule
from sync.mapping.members import parse_members
from sync.mapping.model import FieldRule, Lifecycle, Mapping, Source, fingerprint
from sync.mapping.pipeline import parse_pipeline
from sync.mapping.structure import parse_structure

TOP_KEYS = (
    "version",
    "source",
    "key",
    "project",
    "writeback",
    "backsync",
    "lifecycle",
    "conflicts",
    "members",
    "pipeline",
    "structure",
)
SOURCE_KEYS = ("object", "criteria", "start_date", "lookback")
LIFECYCLE = ("flag", "close", "ignore")
CONFLICTS = ("crm_wins", "keep_psa")
LINK_VALUES = ("project.id", "project.url")

# (dotted key, value) pairs the language defines but psa-sync does not carry out yet. They are
# refused at load, saying so, rather than accepted and silently ignored. Remove an entry in the
# same commit that builds its behaviour.
NOT_SUPPORTED_YET: dict[tuple[str, str], str] = {}

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_PROJECT_FIELD = re.compile(r"[a-z][a-z0-9_]*\Z")
_DURATION = re.compile(r"(\d+)([smhd])\Z")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def load_mapping(path: Path) -> Mapping:
    """Read and validate the mapping at ``path``.

    Raises:
        MappingError: with every problem found, each ``path:line: key.path: message`` (the
            path as given), or a single problem when the file is unreadable or not YAML.
    """
    try:
        doc = load_yaml(Path(path), "mapping")
    except FileNotFoundError as exc:
        raise MappingError(
            f"{path}:1: (file): cannot read the mapping: {exc.strerror or exc}"
        ) from None
    except ConfigError as exc:  # unreadable, not UTF-8, not YAML: one problem, said as a mapping's
        raise MappingError(exc.problems) from None
    problems = Problems(str(path), doc)
    mapping = _build(Path(path), doc.data, problems)
    if problems.items or mapping is None:
        raise MappingError(problems.items or [f"{path}:1: (document): the mapping is empty"])
    return mapping


def _build(path: Path, data: Any, problems: Problems) -> Mapping | None:
    if not isinstance(data, dict):
        problems.add((), f"a mapping file is a YAML mapping with keys {', '.join(TOP_KEYS)}")
        return None
    unknown_keys(data, (), TOP_KEYS, problems)
    _refuse_unsupported(data, problems)
    if data.get("version") != 1:
        where = ("version",)
        problems.add(
            where,
            "missing: write `version: 1`"
            if "version" not in data
            else f"{data['version']!r} is not a supported version (1)",
        )
    key = _key(data, problems)
    fields = _project_fields(data.get("project"), problems)
    writeback = _writeback(data.get("writeback"), problems)
    backsync = _backsync(data.get("backsync"), problems)
    progress = _progress_fields(data.get("structure"))
    written = {f.lower() for f in [*writeback, *backsync, *progress]}
    source = _source(data.get("source"), problems, written)
    lifecycle = _lifecycle(data.get("lifecycle"), problems)
    conflicts = _one_of(data, "conflicts", CONFLICTS, "crm_wins", (), problems)
    members = parse_members(data.get("members"), problems)
    pipeline = parse_pipeline(data.get("pipeline"), source, set(fields), written, problems)
    structure = parse_structure(data.get("structure"), path, fields, written, problems)
    _check_directions(fields, writeback, backsync, key, problems, progress)
    if source is None or problems.items:
        return None
    parts = dict(
        source=source,
        key=key,
        fields=fields,
        writeback=writeback,
        backsync=backsync,
        lifecycle=lifecycle,
        conflicts=conflicts,
        members=members,
        pipeline=pipeline,
    )
    return Mapping(path=path, fingerprint=fingerprint(parts), structure=structure, **parts)


def _progress_fields(raw: Any) -> list[str]:
    """The Salesforce fields ``structure.backsync`` writes, as written (validated with the section)."""
    backsync = raw.get("backsync") if isinstance(raw, dict) else None
    return [str(name) for name in backsync] if isinstance(backsync, dict) else []


def _refuse_unsupported(data: dict, problems: Problems) -> None:
    for (dotted_key, value), note in NOT_SUPPORTED_YET.items():
        node: Any = data
        parts = dotted_key.split(".")
        for part in parts:
            node = node.get(part) if isinstance(node, dict) else None
        if node == value:
            problems.add(tuple(parts), f"'{value}' is not supported yet: {note}")


def _section(value: Any, path: KeyPath, problems: Problems, required: bool = False) -> dict:
    if value is None:
        if required:
            problems.add(path, "missing")
        return {}
    if not isinstance(value, dict):
        problems.add(path, f"must be a mapping, not {type(value).__name__}")
        return {}
    return value


def _source(value: Any, problems: Problems, written: set[str]) -> Source | None:
    raw = _section(value, ("source",), problems, required=True)
    unknown_keys(raw, ("source",), SOURCE_KEYS, problems)
    obj = raw.get("object")
    if not isinstance(obj, str) or not _IDENTIFIER.match(obj):
        problems.add(
            ("source", "object"),
            "missing: name the Salesforce object, e.g. Opportunity"
            if obj is None
            else f"{obj!r} is not an object API name such as Opportunity",
        )
    criteria, text = _criteria(raw, problems, written)
    start = _start_date(raw, problems)
    lookback = _duration(raw.get("lookback", "10m"), ("source", "lookback"), problems)
    if not raw or start is None or lookback is None or not isinstance(obj, str):
        return None
    return Source(
        object=obj, criteria=criteria, criteria_text=text, start_date=start, lookback=lookback
    )


def _criteria(
    raw: dict, problems: Problems, written: set[str]
) -> tuple[soql.Condition | None, str | None]:
    text = raw.get("criteria")
    where = ("source", "criteria")
    if text is None:
        return None, None
    if not isinstance(text, str):
        problems.add(
            where, f'must be a SOQL condition in quotes, such as "IsWon = true", not {text!r}'
        )
        return None, None
    try:
        condition = soql.parse_condition(text)
    except soql.SoqlSyntaxError as exc:
        shown = text if len(text) <= 100 else text[:100] + "..."
        problems.add(where, f"{exc.message} at character {exc.position + 1} of {shown!r}")
        return None, text
    for name in sorted(condition.fields(), key=str.lower):
        if name.lower() in written:
            problems.add(
                where,
                f"reads {name}, a field psa-sync writes (writeback/backsync); "
                "criteria may not read psa-sync's own fields",
            )
    return condition, text


def _start_date(raw: dict, problems: Problems) -> date | None:
    value = raw.get("start_date")
    where = ("source", "start_date")
    if value is None:
        problems.add(
            where, "missing: the first run starts reading there, e.g. start_date: 2026-01-01"
        )
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    elif isinstance(value, date) and not isinstance(value, datetime):
        return value
    problems.add(where, f"{value!r} is not a date such as 2026-01-01")
    return None


def _duration(value: Any, where: KeyPath, problems: Problems) -> timedelta | None:
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        problems.add(
            where, f"{value!r} is not a duration such as 10m, 2h or 1d (<number><s|m|h|d>)"
        )
        return None
    try:
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        problems.add(where, f"{value!r} is too long a duration")
        return None


def _key(data: dict, problems: Problems) -> str:
    value = data.get("key", "Id")
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        problems.add(
            ("key",), f"{value!r} is not a field name: use Id or a unique external-Id field"
        )
        return "Id"
    return value


def _project_fields(value: Any, problems: Problems) -> dict[str, FieldRule]:
    raw = _section(value, ("project",), problems, required=True)
    unknown_keys(raw, ("project",), ("fields",), problems)
    fields = _section(raw.get("fields"), ("project", "fields"), problems, required=bool(raw))
    out: dict[str, FieldRule] = {}
    for name, rule_raw in fields.items():
        path = ("project", "fields", str(name))
        if not isinstance(name, str) or not _PROJECT_FIELD.match(name):
            problems.add(
                path, f"'{name}' is not a project field name (lower_case_with_underscores)"
            )
        elif name == "key":
            problems.add(
                path,
                "'key' is reserved: the mapping's `key` value is always sent as the project key",
            )
        rule = parse_rule(rule_raw, path, problems)
        if rule is not None:
            out[str(name)] = rule
    return out


def _sf_target(name: Any, path: KeyPath, problems: Problems) -> bool:
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        problems.add(path, f"{name!r} is not a Salesforce field name")
        return False
    if not name.lower().endswith("__c"):
        problems.add(
            path, f"psa-sync writes only custom fields (ending in __c); {name} is a standard field"
        )
        return False
    return True


def _writeback(value: Any, problems: Problems) -> dict[str, str]:
    raw = _section(value, ("writeback",), problems)
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


def _backsync(value: Any, problems: Problems) -> dict[str, FieldRule]:
    raw = _section(value, ("backsync",), problems)
    out: dict[str, FieldRule] = {}
    for name, rule_raw in raw.items():
        path = ("backsync", str(name))
        if _sf_target(name, path, problems):
            rule = parse_rule(rule_raw, path, problems, backsync=True)
            if rule is not None:
                out[name] = rule
    return out


def _lifecycle(value: Any, problems: Problems) -> Lifecycle:
    raw = _section(value, ("lifecycle",), problems)
    unknown_keys(raw, ("lifecycle",), ("on_unwon", "on_deleted"), problems)
    return Lifecycle(
        on_unwon=_one_of(raw, "on_unwon", LIFECYCLE, "flag", ("lifecycle",), problems),
        on_deleted=_one_of(raw, "on_deleted", LIFECYCLE, "flag", ("lifecycle",), problems),
    )


def _one_of(
    raw: dict, key: str, allowed: tuple[str, ...], default: str, path: KeyPath, problems: Problems
) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or value not in allowed:
        problems.add((*path, key), f"{value!r} is not one of: {', '.join(allowed)}")
        return default
    return value


def _check_directions(
    fields: dict[str, FieldRule],
    writeback: dict[str, str],
    backsync: dict[str, FieldRule],
    key: str,
    problems: Problems,
    progress: list[str] | None = None,
) -> None:
    """Each Salesforce field flows one way only (docs/architecture.md §1.1); ``progress``: the fields
    ``structure.backsync`` writes, which no other section may read or write."""
    readers: dict[str, str] = {key.lower(): "key"}
    for name, rule in fields.items():
        for read in rule.read_fields():
            readers.setdefault(read.lower(), f"project.fields.{name}")
    backsync_lower = {f.lower(): f for f in backsync}
    for section, names in (("writeback", list(writeback)), ("backsync", list(backsync))):
        for name in names:
            if name.lower() in readers:
                problems.add(
                    (section, name),
                    f"{name} is also read by {readers[name.lower()]}; "
                    "a field flows in one direction only",
                )
            if section == "writeback" and name.lower() in backsync_lower:
                other = backsync_lower[name.lower()]
                problems.add(
                    (section, name),
                    f"{name} is listed in both writeback and backsync "
                    f"(line {problems.doc.line(('backsync', other))})",
                )
    others = {
        name.lower(): section
        for section, names in (("writeback", writeback), ("backsync", backsync))
        for name in names
    }
    for name in progress or []:
        where = ("structure", "backsync", name)
        if name.lower() in readers:
            problems.add(
                where,
                f"{name} is also read by {readers[name.lower()]}; a field flows in one direction only",
            )
        elif name.lower() in others:
            problems.add(
                where,
                f"{name} is also written by {others[name.lower()]}; psa-sync writes a field "
                "from one place only",
            )
