"""The ``pipeline:`` section of a mapping (README.md, "Pipeline deals and tentative projects").

The pipeline stream is read by the run's one query (its criteria are OR-ed into the WHERE), so a
deal must never be both won and in the pipeline: each would claim the deal's project. The loader
proves the two apart the only way a person can read at a glance: the pipeline criteria must require
``IsClosed = false`` and the won criteria ``IsWon = true`` or ``IsClosed = true``, each as a term of
its top-level AND. Anything else is refused with file, line and key.
"""

from __future__ import annotations

from typing import Any

from sync.common.problems import Problems
from sync.extract import soql
from sync.mapping.conditions import parse_condition_at
from sync.mapping.model import Pipeline, Source
from sync.mapping.names import PROJECT_FIELD

KEYS = ("criteria", "create_projects", "on_drop", "stage_field", "stages")
ON_DROP = ("flag", "close", "ignore")
STAGES = ("tentative", "won", "lost")
RESERVED = ("key", "salesforce_status")  # the key is always sent; lifecycle's own status field
WHERE = ("pipeline", "criteria")
EXAMPLE = '"IsClosed = false AND Probability >= 50"'


def parse_pipeline(
    raw: Any, source: Source | None, fields: set[str], written: set[str], problems: Problems
) -> Pipeline | None:
    """The validated ``pipeline`` section, or None when there is none (or it has problems)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.add(
            ("pipeline",),
            f"must be a mapping with keys {', '.join(KEYS)}, not {type(raw).__name__}",
        )
        return None
    before = len(problems.items)
    for key in raw:
        if key not in KEYS:
            problems.add(
                ("pipeline", str(key)), f"unknown key '{key}'; valid keys: {', '.join(KEYS)}"
            )
    criteria = _criteria(raw.get("criteria"), source, written, problems)
    create = raw.get("create_projects", False)
    if not isinstance(create, bool):
        problems.add(("pipeline", "create_projects"), f"{create!r} is not true or false")
    on_drop = raw.get("on_drop", "flag")
    if on_drop not in ON_DROP:
        problems.add(("pipeline", "on_drop"), f"{on_drop!r} is not one of: {', '.join(ON_DROP)}")
    stage_field = raw.get("stage_field", "stage")
    if (
        not isinstance(stage_field, str)
        or not PROJECT_FIELD.match(stage_field)
        or stage_field in RESERVED
    ):
        problems.add(
            ("pipeline", "stage_field"),
            f"{stage_field!r} is not a project field name psa-sync may "
            "set (lower_case_with_underscores, not key or salesforce_status)",
        )
    elif stage_field in fields:
        problems.add(
            ("pipeline", "stage_field"),
            f"'{stage_field}' is also a field under project.fields; "
            "psa-sync sets the stage field itself: remove one of them",
        )
    stages = _stages(raw.get("stages"), problems)
    if criteria is None or len(problems.items) > before:
        return None
    return Pipeline(
        criteria=criteria,
        criteria_text=raw["criteria"],
        create_projects=create,
        on_drop=on_drop,
        stage_field=stage_field,
        stages=stages,
    )


def _criteria(
    text: Any, source: Source | None, written: set[str], problems: Problems
) -> soql.Condition | None:
    if text is None:
        problems.add(WHERE, f"missing: the open deals of the pipeline, e.g. {EXAMPLE}")
        return None
    condition = parse_condition_at(text, WHERE, written, problems, EXAMPLE)
    if condition is None:
        return None
    if not requires(condition, ("IsClosed", "=", False), ("IsClosed", "!=", True)):
        problems.add(
            WHERE,
            "must exclude closed deals with `IsClosed = false` as a term of its top-level AND "
            f'(e.g. "IsClosed = false AND Probability >= 50"), so no deal is both won and in the '
            f"pipeline; {text!r} does not",
        )
        return None
    if source is None:
        return condition
    if source.object.lower() != "opportunity":
        problems.add(
            WHERE,
            f"a pipeline reads Opportunity fields (StageName, Probability, IsClosed); "
            f"source.object is {source.object}",
        )
    elif source.criteria is None or not requires(
        source.criteria,
        ("IsWon", "=", True),
        ("IsClosed", "=", True),
        ("IsWon", "!=", False),
        ("IsClosed", "!=", False),
    ):
        won = source.criteria_text or "(none: every record)"
        problems.add(
            WHERE,
            f"overlaps source.criteria {won!r} (line {problems.doc.line(('source', 'criteria'))}): "
            "an open deal could match both and be won and in the pipeline at once; "
            "make the won criteria require `IsWon = true` (or `IsClosed = true`) "
            "as a term of their top-level AND",
        )
    return condition


def requires(condition: soql.Condition, *terms: tuple[str, str, Any]) -> bool:
    """Whether one of ``terms`` (field, op, value) is ``condition`` itself or a term of its
    top-level AND."""
    items = condition.items if isinstance(condition, soql.And) else (condition,)
    for item in items:
        if isinstance(item, soql.Comparison) and any(
            item.field.lower() == name.lower() and item.op == op and item.value is value
            for name, op, value in terms
        ):
            return True
    return False


def _stages(raw: Any, problems: Problems) -> tuple[tuple[str, str], ...]:
    values = dict(Pipeline.stages)
    if raw is None:
        return Pipeline.stages
    if not isinstance(raw, dict):
        problems.add(
            ("pipeline", "stages"),
            "must be a mapping such as {tentative: Tentative, won: Won, lost: Lost}",
        )
        return Pipeline.stages
    for key, value in raw.items():
        if key not in STAGES:
            problems.add(
                ("pipeline", "stages", str(key)),
                f"unknown stage '{key}'; valid: {', '.join(STAGES)}",
            )
        elif not isinstance(value, str) or not value.strip():
            problems.add(
                ("pipeline", "stages", key), f"{value!r} is not a value of the PSA's stage field"
            )
        else:
            values[key] = value
    return tuple((key, values[key]) for key in STAGES)
