"""Apply one field rule to a whole column: source → map → type → transforms → default → checks.

The order is part of the contract (mappings/examples/ show it): a value is read (``from`` or the
rendered ``template``), looked up in ``map`` by its canonical text (``unmapped`` decides what a
miss does), parsed to ``type``, shaped (``transform``, ``date_add``), replaced by ``default``
when still null, then checked (``required``, ``max_length``). Every step is a column
operation; only rows that fail get a per-row reason string.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from sync.mapping.model import DROP, FieldRule
from sync.transform import coerce
from sync.transform.frame import RecordFrame

SHOWN_CHARS = 60  # longer values are cut in reasons: a reason names the problem, not the payload


@dataclass(frozen=True)
class Evaluated:
    """Typed values (None where null or failed) and a reason where the row failed."""

    values: np.ndarray
    reasons: np.ndarray


def evaluate_rule(rule: FieldRule, frame: RecordFrame) -> Evaluated:
    raw = frame.column(rule.source) if rule.template is None else render_template(rule, frame)
    return apply_rule(rule, raw)


def apply_rule(rule: FieldRule, raw: pd.Series) -> Evaluated:
    """Run ``rule`` over the raw values of one column (also used by back-sync)."""
    reasons = np.full(len(raw), None, dtype=object)
    mapped, unmapped = _apply_map(rule, raw)
    if rule.unmapped == "error" and unmapped.any():
        reasons[unmapped] = _reasons(
            rule, raw[unmapped], "is not in the value map and unmapped is 'error'"
        )
    parsed = coerce.parse(mapped, rule.type, rule.tz)
    bad = parsed.bad.to_numpy(dtype=bool) & pd.isna(reasons)
    if bad.any():
        reasons[bad] = _reasons(rule, mapped[bad], parsed.problems[bad])
    values = np.array(parsed.values, dtype=object)
    values = _transform_text(rule, values)
    values = _add_days(rule, values, reasons)
    failed = pd.notna(reasons)
    if rule.default is not None:
        values[pd.isna(values) & ~failed] = rule.default
    if rule.required:
        missing = pd.isna(values) & ~failed
        reasons[missing] = f"{rule.name}: no value (from {rule.origin}) and it is required"
    _check_length(rule, values, reasons)
    values[pd.notna(reasons)] = None
    return Evaluated(values, reasons)


def render_template(rule: FieldRule, frame: RecordFrame) -> pd.Series:
    """Join literal text and field values; an empty value renders as its fallback
    (``{Field|text}``), as nothing (``{Field}``), or is left out with the separator before it
    (``{Field|?}``; the first field takes the separator after it instead), so a deal without an
    Account is named "Name", not " - Name".

    When every field of the template is empty (and has no fallback) the result is null, so
    ``required`` and ``default`` still work for a template whose record has nothing to say.
    """
    out = pd.Series("", index=frame.index, dtype=object)
    all_null = np.ones(len(frame), dtype=bool)
    started = np.zeros(len(frame), dtype=bool)  # a field was written: the next separator is needed
    for position, (literal, name, empty) in enumerate(rule.template_parts):
        if (
            name is None or position == 0
        ):  # the text before the first field and after the last stays
            out = out + literal
        if name is None:
            continue
        text = frame.text(name)
        if empty not in (None, DROP):
            text = text.fillna(empty)
        missing = text.isna().to_numpy(dtype=bool)
        all_null &= missing
        left_out = missing if empty == DROP else np.zeros(len(frame), dtype=bool)
        separator = np.where(started, literal, "") if position else ""
        piece = pd.Series(separator, index=frame.index, dtype=object) + text.fillna("")
        out = out + piece.where(~left_out, "")
        started |= ~left_out
    return out.where(~all_null, None)


def _apply_map(rule: FieldRule, raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Values after the map, and which present values the map did not know."""
    if rule.value_map is None:
        return raw, np.zeros(len(raw), dtype=bool)
    key = coerce.as_text(raw)
    hit = key.isin(list(rule.value_map)).to_numpy(dtype=bool)
    unmapped = key.notna().to_numpy(dtype=bool) & ~hit
    out = np.array(raw, dtype=object)
    out[hit] = np.array(key[hit].map(rule.value_map), dtype=object)
    if rule.unmapped in ("error", "default"):
        out[unmapped] = None  # error: reported; default: filled like a null below
    return pd.Series(out, index=raw.index, dtype=object), unmapped


def _transform_text(rule: FieldRule, values: np.ndarray) -> np.ndarray:
    if not rule.transforms:
        return values
    text = pd.Series(values, dtype=object)
    for name in rule.transforms:
        text = getattr(text.str, name)()
    return np.array(coerce.nullify(text), dtype=object)


def _add_days(rule: FieldRule, values: np.ndarray, reasons: np.ndarray) -> np.ndarray:
    if not rule.date_add_days:
        return values
    delta = timedelta(days=rule.date_add_days)
    present = pd.notna(values)
    if not present.any():
        return values
    lowest, highest = (
        (date.min, date.max)
        if rule.type == "date"
        else (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
    )
    shown = pd.Series(values[present], dtype=object)
    fits = (shown <= highest - delta) if delta.days >= 0 else (shown >= lowest - delta)
    fits = fits.to_numpy(dtype=bool)
    out = values.copy()
    rows = np.flatnonzero(present)
    out[rows[fits]] = np.array(shown[fits] + delta, dtype=object)
    reasons[rows[~fits]] = _reasons(
        rule, shown[~fits], f"is out of range after adding {delta.days} days"
    )
    return out


def _check_length(rule: FieldRule, values: np.ndarray, reasons: np.ndarray) -> None:
    if rule.max_length is None:
        return
    text = pd.Series(values, dtype=object)
    lengths = text.str.len().to_numpy(dtype=float, na_value=0.0)
    over = (lengths > rule.max_length) & pd.isna(reasons)
    if not over.any():
        return
    if rule.overflow == "truncate":
        values[over] = np.array(text[over].str.slice(0, rule.max_length), dtype=object)
    else:
        counts = pd.Series(lengths[over].astype(int)).astype(str)
        reasons[over] = np.array(
            rule.name + ": " + counts + f" characters (from {rule.origin}), more than "
            f"max_length {rule.max_length} and overflow is 'error'",
            dtype=object,
        )


def _reasons(rule: FieldRule, values: pd.Series, problems) -> np.ndarray:
    """``"budget: 'abc' (from Amount) is not a decimal number"`` for each failing value."""
    shown = pd.Series(values, dtype=object).map(_show)
    text = rule.name + ": " + shown.to_numpy(dtype=object) + f" (from {rule.origin}) "
    return np.array(text + np.asarray(problems, dtype=object), dtype=object)


def _show(value) -> str:
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        return repr(value[: SHOWN_CHARS - 3]) + f"... ({len(value)} characters)"
    return repr(value)
