"""A text template of a mapping: a project field's ``template`` and a line-item task's
``line_items.name`` (README.md, "The mapping language").

Literal text and ``{Field}`` parts; ``{Field|text}`` says what an empty field becomes, and
``{Field|?}`` leaves it out with its separator (a deal without an Account is not " - Name"). The
parts are (literal text, field path or None, what an empty field becomes) triples, rendered per
record by the transform (:func:`sync.transform.rules.render_template`).
"""

from __future__ import annotations

import string
from typing import Any

from sync.common.problems import Problems, kind_of
from sync.common.yamldoc import KeyPath
from sync.mapping.names import FIELD_PATH


def parse_text_template(value: Any, where: KeyPath, problems: Problems) -> tuple[str | None, tuple]:
    """The text as written and its parts (see the module's docstring), or (None, ()) when it is
    not text; a problem is added for each part that is not one."""
    if not isinstance(value, str):
        problems.add(
            where, f'must be text such as "{{Account.Name|?}} - {{Name}}", not {kind_of(value)}'
        )
        return None, ()
    try:
        pieces = list(string.Formatter().parse(value))
    except ValueError as exc:
        problems.add(where, f"{exc} (write a literal brace as {{{{ or }}}})")
        return value, ()
    before = len(problems.items)
    parts = [_part(*piece, where, problems) for piece in pieces]
    usable = tuple(part for part in parts if part is not None)
    if not any(name for _, name, _ in usable) and len(problems.items) == before:
        problems.add(where, "names no field; for a fixed value use `default`")
    return value, usable


def _part(
    literal: str,
    name: str | None,
    spec: str | None,
    conversion: str | None,
    where: KeyPath,
    problems: Problems,
) -> tuple[str, str | None, str | None] | None:
    """One (literal, field, empty) part, or None with its problem added."""
    field, bar, empty = (name or "").partition("|")
    shown = f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}"
    if bar:  # a fallback text may hold what Python would read as a conversion or a format spec
        empty += ("!" + conversion if conversion else "") + (":" + spec if spec else "")
    if name is None:
        return (literal, None, None)
    if not bar and (spec or conversion):
        problems.add(
            where,
            f"'{shown}': format specs and conversions are not supported; use type and transform",
        )
    elif not FIELD_PATH.match(field):
        problems.add(
            where, f"'{{{field}}}' is not a Salesforce field name (write a literal brace as {{{{)"
        )
    elif bar and not empty:
        problems.add(
            where,
            f"'{shown}': say after | what an empty {field} becomes: "
            "? to leave it out with its separator, or a text",
        )
    else:
        return (literal, field, empty if bar else None)
    return None
