"""A field rule's values: its ``default`` and the targets of its ``map``.

They are parsed here, at load time, with the very parser the transform uses on columns
(:func:`sync.common.scalars.parse_scalar`), so a mapping whose ``default: abc`` cannot be a decimal
fails before any run, and a value reaches the PSA exactly as the mapping's type says.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sync.common.problems import Problems, kind_of
from sync.common.scalars import parse_scalar, text_of
from sync.common.yamldoc import KeyPath


def parse_value_map(
    raw: dict, type_: str, tz: str | None, path: KeyPath, problems: Problems
) -> dict | None:
    """The rule's ``map``, keyed by the canonical text of each source value (what the transform
    looks a column's value up by), each target parsed to ``type_``; None when there is none."""
    if "map" not in raw:
        return None
    where = (*path, "map")
    value = raw["map"]
    if not isinstance(value, dict) or not value:
        problems.add(
            where,
            f"must be a non-empty mapping of source value: target value, not {kind_of(value)}",
        )
        return None
    usable = {}
    # refused before text_of, which cannot print all (9999-12-31T23:00-05:00)
    for key, target in value.items():
        if isinstance(key, float) or not isinstance(key, (str, int, bool)):
            problems.add(
                (*where, str(key)),
                f"a map key must be text, a whole number or true/false, not {kind_of(key)}",
            )
        else:
            usable[key] = target
    keys = [text_of(key) for key in usable]
    out: dict[str, Any] = {}
    for (key, target), text in zip(usable.items(), keys, strict=True):
        entry = (*where, str(key))
        if text in out:
            problems.add(entry, f"the same source value as another key ('{text}')")
            continue
        out[text] = parse_typed(target, type_, tz, entry, problems)
    return out


def parse_typed(value: Any, type_: str, tz: str | None, where: KeyPath, problems: Problems) -> Any:
    """One value parsed to ``type_`` (None stays None), or None with a problem added."""
    if value is None:
        return None
    if isinstance(value, (list, dict)):
        problems.add(where, f"must be a single {type_} value, not {kind_of(value)}")
        return None
    try:
        typed, problem = parse_scalar(value, type_, tz)
    except (OverflowError, ValueError):  # 9999-12-31T23:59:59-05:00 is past the last date in UTC
        typed, problem = None, "is out of range"
    if problem:
        shown = value.isoformat() if isinstance(value, (date, datetime)) else repr(value)
        problems.add(where, f"{shown} {problem} (the field's type is {type_})")
    return typed
