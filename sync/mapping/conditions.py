"""A SOQL condition written in a mapping: ``source.criteria``, ``pipeline.criteria``, and the
``when``, ``any_line_item`` and ``services`` of the ``structure:`` section.

Each is parsed at load by the parser the extract renders with and the transform evaluates with
(:mod:`sync.extract.soql`), so a condition that cannot run fails before any run, with its file,
line and key. A condition may not read a field psa-sync itself writes: a write-back would change
which records it selects (docs/architecture.md §1.1).
"""

from __future__ import annotations

from typing import Any

from sync.common.problems import Problems
from sync.common.yamldoc import KeyPath
from sync.extract import soql

#: how much of a condition a syntax error quotes
SHOWN = 100


def parse_condition_at(
    text: Any, where: KeyPath, written: set[str], problems: Problems, example: str
) -> soql.Condition | None:
    """The parsed condition, or None (its problem added); ``example``: a condition such a key
    holds, quoted, for the message; ``written``: the fields psa-sync writes, lower case."""
    if not isinstance(text, str):
        problems.add(where, f"must be a SOQL condition in quotes, such as {example}, not {text!r}")
        return None
    try:
        condition = soql.parse_condition(text)
    except soql.SoqlSyntaxError as exc:
        shown = text if len(text) <= SHOWN else text[:SHOWN] + "..."
        problems.add(where, f"{exc.message} at character {exc.position + 1} of {shown!r}")
        return None
    for name in sorted(condition.fields(), key=str.lower):
        if name.lower() in written:
            problems.add(
                where,
                f"reads {name}, a field psa-sync writes (writeback/backsync); "
                "criteria may not read psa-sync's own fields",
            )
    return condition
