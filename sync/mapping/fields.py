"""One field rule of a mapping: its grammar and its validation, building a typed
:class:`~sync.mapping.model.FieldRule`.

The same grammar serves both directions: ``project.fields`` (a Salesforce record → a PSA project
field) and ``backsync`` (a PSA delivery value → a Salesforce field), the latter with fewer keys.
A ``template`` has a grammar of its own (:mod:`sync.mapping.text_template`); defaults and map
values are parsed at load by the transform's own parser (:mod:`sync.mapping.field_values`).
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from sync.common.problems import Problems, kind_of
from sync.common.scalars import TYPES
from sync.common.yamldoc import KeyPath
from sync.mapping.field_values import parse_typed, parse_value_map
from sync.mapping.model import FieldRule
from sync.mapping.names import FIELD_PATH
from sync.mapping.text_template import parse_text_template

# The PSA's delivery values and the type each has when a backsync rule does not say.
# revenue and cost: figures a PSA computes (Tryton's project_revenue); describe() says which it has.
DELIVERY_TYPES = {
    "status": "string",
    "percent_complete": "integer",
    "spent_hours": "decimal",
    "revenue": "decimal",
    "cost": "decimal",
}
DELIVERY_VALUES = tuple(DELIVERY_TYPES)
UNMAPPED = ("error", "default", "pass")
OVERFLOW = ("truncate", "error")
SYNC = ("always", "on_create")
TRANSFORMS = ("upper", "lower", "strip")

PROJECT_KEYS = (
    "from",
    "template",
    "type",
    "default",
    "required",
    "map",
    "unmapped",
    "max_length",
    "overflow",
    "transform",
    "date_add",
    "tz",
    "sync",
)
BACKSYNC_KEYS = (
    "from",
    "type",
    "default",
    "map",
    "unmapped",
    "max_length",
    "overflow",
    "transform",
)


def parse_rule(
    raw: Any,
    path: KeyPath,
    problems: Problems,
    backsync: bool = False,
    delivery: dict[str, str] | None = None,
) -> FieldRule | None:
    """Validate one rule; every problem goes to ``problems``; None when it is unusable.

    ``delivery``: the values a back-sync rule may read and their types (default: the PSA's
    :data:`DELIVERY_TYPES`; ``structure.backsync`` reads the progress of the project's tasks
    instead)."""
    name = str(path[-1])
    line = problems.doc.line(path)
    if isinstance(raw, str):
        raw = {"from": raw}
        problems.doc.lines.setdefault((*path, "from"), line)
    if not isinstance(raw, dict):
        problems.add(path, f"must be a field name or a mapping of rule keys, not {kind_of(raw)}")
        return None
    before = len(problems.items)
    allowed = BACKSYNC_KEYS if backsync else PROJECT_KEYS
    for key in raw:
        if key not in allowed:
            problems.add((*path, str(key)), _unknown_key(key, allowed, backsync))
    rule = FieldRule(
        name=name,
        line=line,
        **_rule_values(raw, path, problems, backsync, delivery or DELIVERY_TYPES),
    )
    _check_combinations(rule, raw, path, problems)
    return rule if len(problems.items) == before else None


def _unknown_key(key: Any, allowed: tuple[str, ...], backsync: bool) -> str:
    if backsync and key in PROJECT_KEYS:
        return f"'{key}' is not valid in backsync; valid keys: {', '.join(sorted(allowed))}"
    return f"unknown key '{key}'; valid keys: {', '.join(sorted(allowed))}"


def _rule_values(
    raw: dict, path: KeyPath, problems: Problems, backsync: bool, delivery: dict[str, str]
) -> dict[str, Any]:
    source = raw.get("from")
    implied = delivery.get(source, "string") if backsync and isinstance(source, str) else "string"
    type_ = _choice(raw, "type", TYPES, implied, path, problems)
    tz = _tz(raw, path, problems)
    values: dict[str, Any] = {
        "source": _source(raw, path, problems, backsync, tuple(delivery)),
        "template": None,
        "type": type_,
        "required": _bool(raw, "required", path, problems),
        "unmapped": _choice(raw, "unmapped", UNMAPPED, None, path, problems),
        "max_length": _positive_int(raw, "max_length", path, problems),
        "overflow": _choice(raw, "overflow", OVERFLOW, "truncate", path, problems),
        "transforms": _transforms(raw, path, problems),
        "date_add_days": _date_add(raw, path, problems),
        "tz": tz,
        "sync": _choice(raw, "sync", SYNC, "always", path, problems),
    }
    if "template" in raw:
        values["template"], values["template_parts"] = parse_text_template(
            raw["template"], (*path, "template"), problems
        )
    if type_ is not None:
        values["default"] = parse_typed(raw.get("default"), type_, tz, (*path, "default"), problems)
        values["value_map"] = parse_value_map(raw, type_, tz, path, problems)
    else:
        values["type"] = "string"
    return values


def _source(
    raw: dict, path: KeyPath, problems: Problems, backsync: bool, delivery: tuple[str, ...]
) -> str | None:
    if "from" not in raw:
        return None
    value = raw["from"]
    where = (*path, "from")
    if not isinstance(value, str):
        problems.add(where, f"must be a field name, not {kind_of(value)}")
        return None
    if backsync:
        if value not in delivery:
            problems.add(
                where, f"'{value}' is not a PSA delivery value; valid: {', '.join(delivery)}"
            )
        return value
    if not FIELD_PATH.match(value):
        problems.add(
            where,
            f"'{value}' is not a Salesforce field name (letters, digits and _, "
            "up to 5 dot-separated levels such as Account.Owner.Email)",
        )
    return value


def _choice(
    raw: dict, key: str, allowed: tuple[str, ...], default: Any, path: KeyPath, problems: Problems
) -> Any:
    if key not in raw:
        return default
    value = raw[key]
    if value not in allowed or not isinstance(value, str):
        problems.add((*path, key), f"{value!r} is not one of: {', '.join(allowed)}")
        return None if key == "type" else default
    return value


def _bool(raw: dict, key: str, path: KeyPath, problems: Problems) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        problems.add((*path, key), f"must be true or false, not {value!r}")
        return False
    return value


def _positive_int(raw: dict, key: str, path: KeyPath, problems: Problems) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problems.add((*path, key), f"must be a whole number of at least 1, not {value!r}")
        return None
    return value


def _transforms(raw: dict, path: KeyPath, problems: Problems) -> tuple[str, ...]:
    value = raw.get("transform", [])
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        problems.add(
            (*path, "transform"), f"must be one of {', '.join(TRANSFORMS)} or a list of them"
        )
        return ()
    for name in names:
        if name not in TRANSFORMS:
            problems.add(
                (*path, "transform"), f"unknown transform '{name}'; valid: {', '.join(TRANSFORMS)}"
            )
    return tuple(n for n in names if n in TRANSFORMS)


def _date_add(raw: dict, path: KeyPath, problems: Problems) -> int | None:
    if "date_add" not in raw:
        return None
    value = raw["date_add"]
    where = (*path, "date_add")
    if not isinstance(value, dict) or set(value) != {"days"}:
        problems.add(where, f"must be {{days: N}}, not {value!r}")
        return None
    days = value["days"]
    if isinstance(days, bool) or not isinstance(days, int):
        problems.add((*where, "days"), f"must be a whole number of days, not {days!r}")
        return None
    return days


def _tz(raw: dict, path: KeyPath, problems: Problems) -> str | None:
    value = raw.get("tz")
    if value is None:
        return None
    if not isinstance(value, str):
        problems.add(
            (*path, "tz"),
            f"must be a time zone name such as Europe/Paris or UTC, not {kind_of(value)}",
        )
        return None
    try:
        zoneinfo.ZoneInfo(value)
    # OSError: `America` is a folder, or the name is too long
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        problems.add(
            (*path, "tz"), f"{value!r} is not a time zone name such as Europe/Paris or UTC"
        )
        return None
    return value


def _check_combinations(rule: FieldRule, raw: dict, path: KeyPath, problems: Problems) -> None:
    """Keys that are each valid alone but meaningless or contradictory together."""
    if "from" in raw and "template" in raw:
        problems.add((*path, "template"), "`from` and `template` cannot be used together")
    elif "from" not in raw and "template" not in raw:
        problems.add(path, "needs `from` (a field) or `template`")
    if "map" in raw and "unmapped" not in raw:
        problems.add((*path, "map"), "a `map` needs an explicit `unmapped: error | default | pass`")
    if "unmapped" in raw and "map" not in raw:
        problems.add((*path, "unmapped"), "only applies with a `map`")
    if rule.unmapped == "default" and raw.get("default") is None:
        problems.add((*path, "unmapped"), "'default' needs a `default` value")
    _check_type_fit(rule, raw, path, problems)


def _check_type_fit(rule: FieldRule, raw: dict, path: KeyPath, problems: Problems) -> None:
    if "max_length" in raw and rule.type != "string":
        problems.add((*path, "max_length"), f"applies to type string only, not {rule.type}")
    if "overflow" in raw and "max_length" not in raw:
        problems.add((*path, "overflow"), "only applies with `max_length`")
    if "transform" in raw and rule.type != "string":
        problems.add(
            (*path, "transform"), f"upper/lower/strip apply to type string only, not {rule.type}"
        )
    if "date_add" in raw and rule.type not in ("date", "datetime"):
        problems.add((*path, "date_add"), f"applies to type date or datetime only, not {rule.type}")
    if "tz" in raw and rule.type != "date":
        problems.add(
            (*path, "tz"), "applies to type date only (it picks the day of a date and time)"
        )
    if rule.max_length and isinstance(rule.default, str) and len(rule.default) > rule.max_length:
        problems.add((*path, "default"), f"is longer than max_length {rule.max_length}")
