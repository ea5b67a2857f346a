"""Typed values to Redmine strings and back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.connectors.psa.redmine.fields import from_redmine, plain_decimal, to_redmine

# --- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, fmt, typed",
    [
        ("125000.5", "float", Decimal("125000.50")),
        ("1000", "float", Decimal("1E+3")),
        ("40", "int", 40),
        ("2026-02-01", "date", dt.date(2026, 2, 1)),
        ("1", "bool", True),
        ("", "float", None),
        (None, "date", None),
        ("Fixed Fee", "list", "Fixed Fee"),
        ("not a date", "date", "not a date"),
    ],
)
def test_redmine_strings_become_typed_values(raw, fmt, typed):
    assert from_redmine(raw, fmt) == typed


@pytest.mark.parametrize(
    "typed, raw",
    [
        (Decimal("1E+3"), "1000"),
        (Decimal("0.50"), "0.50"),
        (dt.date(2026, 1, 2), "2026-01-02"),
        (None, ""),
        (False, "0"),
    ],
)
def test_typed_values_become_redmine_strings(typed, raw):
    assert to_redmine(typed) == raw


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12
    )
)
def test_a_decimal_survives_the_round_trip_in_canonical_form(value):
    back = from_redmine(to_redmine(value), "float")
    assert back == value and str(back) == str(plain_decimal(value)) and "E" not in str(back)
