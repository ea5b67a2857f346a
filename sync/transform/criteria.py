"""Evaluate ``source.criteria`` over a whole page at once, with SOQL's semantics.

The condition is the AST from :mod:`sync.extract.soql`; this walks it once per page and works on
columns, never on rows. Semantics follow :func:`sync.extract.soql.evaluate` (the emulator's), which
follows Salesforce: text compares ignoring case; a comparison with a null field is false except
``!=`` and ``NOT IN``, which match null; ``field = null`` matches an empty lookup; a checkbox
is never null, so ``IsWon = null`` is false. AND/OR short-circuit left to right, so a value
that cannot be compared is an error only where ``evaluate`` would reach it.

Where the record value cannot be compared with the literal (``Amount > 5`` on ``"abc"``), that
row gets a problem text instead of a guess. Values are read through :mod:`sync.transform.coerce`, so
``"true"`` and ``"125000.5"`` from Bulk CSV compare like their JSON forms.
"""

from __future__ import annotations

import operator
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd

from sync.extract import soql
from sync.extract.soql.semantics import like_regex
from sync.transform import coerce
from sync.transform.frame import RecordFrame

_OPS = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def evaluate_criteria(
    condition: soql.Condition | None, frame: RecordFrame
) -> tuple[np.ndarray, np.ndarray]:
    """``(matches, problems)``: a bool array, and an object array with None or a problem text."""
    if condition is None:
        return np.ones(len(frame), dtype=bool), np.full(len(frame), None, dtype=object)
    return _evaluate(condition, frame)


def _evaluate(node: soql.Condition, frame: RecordFrame) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(node, soql.And):
        return _short_circuit(node.items, frame, stop_on=False)
    if isinstance(node, soql.Or):
        return _short_circuit(node.items, frame, stop_on=True)
    if isinstance(node, soql.Not):
        value, problems = _evaluate(node.item, frame)
        return ~value, problems
    if isinstance(node, soql.Comparison):
        return _compare(frame.column(node.field), node.op, node.value, node.field)
    if isinstance(node, soql.InList):
        column = frame.column(node.field)
        value, problems = _any_of([_compare(column, "=", v, node.field) for v in node.values])
        return (~value if node.negated else value), problems
    raise TypeError(f"not a SOQL condition: {node!r}")


def _short_circuit(items, frame: RecordFrame, stop_on: bool) -> tuple[np.ndarray, np.ndarray]:
    """AND (stop on the first False) or OR (stop on the first True), as Python's all/any."""
    results = [_evaluate(item, frame) for item in items]
    return _any_of(results) if stop_on else _all_of(results)


def _all_of(results: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    n = len(results[0][0])
    value, problems, alive = (
        np.ones(n, dtype=bool),
        np.full(n, None, dtype=object),
        np.ones(n, dtype=bool),
    )
    for item_value, item_problems in results:
        failed = alive & pd.notna(item_problems)
        problems[failed] = item_problems[failed]
        value &= item_value
        alive &= item_value & ~failed
    value[pd.notna(problems)] = False
    return value, problems


def _any_of(results: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    n = len(results[0][0])
    value, problems, alive = (
        np.zeros(n, dtype=bool),
        np.full(n, None, dtype=object),
        np.ones(n, dtype=bool),
    )
    for item_value, item_problems in results:
        failed = alive & pd.notna(item_problems)
        problems[failed] = item_problems[failed]
        value |= item_value & alive & ~failed
        alive &= ~item_value & ~failed
    value[pd.notna(problems)] = False
    return value, problems


def _compare(
    column: pd.Series, op: str, literal: soql.Value, path: str
) -> tuple[np.ndarray, np.ndarray]:
    null = column.isna().to_numpy(dtype=bool)
    problems = np.full(len(column), None, dtype=object)
    if literal is None:
        value = (
            null.copy() if op == "=" else ~null if op == "!=" else np.zeros(len(column), dtype=bool)
        )
        return value, problems
    value = np.full(len(column), op == "!=", dtype=bool)  # SOQL: null is "not equal" to any value
    present = ~null
    if present.any():
        got, bad = _present(column[present], op, literal)
        value[present] = got
        failed = np.flatnonzero(present)[bad]
        problems[failed] = _messages(column.iloc[failed], literal, path)
        value[failed] = False
    return value, problems


def _present(values: pd.Series, op: str, literal: soql.Value) -> tuple[np.ndarray, np.ndarray]:
    """Compare non-null values; returns (result, cannot-compare) bool arrays."""
    if op == "LIKE":
        is_text = values.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        pattern = like_regex(str(literal))
        hits = values.where(is_text, "").astype(object).str.fullmatch(pattern).fillna(False)
        return hits.to_numpy(dtype=bool) & is_text, ~is_text
    left, right, bad = _typed(values, literal)
    if isinstance(literal, bool) and op not in ("=", "!="):
        return np.zeros(len(values), dtype=bool), np.ones(len(values), dtype=bool)
    result = np.zeros(len(values), dtype=bool)
    good = ~bad
    if good.any():
        result[good] = _OPS[op](pd.Series(left[good], dtype=object), right).to_numpy(dtype=bool)
    return result, bad


def _typed(values: pd.Series, literal: soql.Value) -> tuple[np.ndarray, object, np.ndarray]:
    """The column in the literal's type; text is case-folded, as SOQL compares it."""
    if isinstance(literal, str):
        text = coerce.as_text(values).str.casefold()
        return np.array(text, dtype=object), literal.casefold(), np.zeros(len(values), dtype=bool)
    type_ = _literal_type(literal)
    parsed = coerce.parse(values, type_)
    right = Decimal(literal) if type_ == "decimal" else literal
    return np.array(parsed.values, dtype=object), right, parsed.bad.to_numpy(dtype=bool)


def _literal_type(literal: soql.Value) -> str:
    if isinstance(literal, bool):
        return "boolean"
    if isinstance(literal, (int, Decimal)):
        return "decimal"
    if isinstance(literal, datetime):
        return "datetime"
    if isinstance(literal, date):
        return "date"
    raise TypeError(f"SOQL has no literal of type {type(literal).__name__}")


def _messages(values: pd.Series, literal: soql.Value, path: str) -> np.ndarray:
    shown = [
        f"{path}: cannot compare value {value!r} with literal {soql.quote(literal)}"
        for value in values
    ]
    return np.array(shown, dtype=object)
