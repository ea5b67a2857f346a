"""Value parsing (transform.coerce): locale-free, one canonical form whatever JSON or CSV said."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from sync.common.scalars import parse_scalar
from sync.transform.coerce import as_text, nullify, objects, parse


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("hello", "hello"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (100.0, "100"),
        (-0.0, "0"),
        (0.1, "0.1"),
        (1e-07, "0.0000001"),
        (1e22, "10000000000000000000000"),
        (Decimal("7.50"), "7.5"),
        (date(2026, 2, 1), "2026-02-01"),
        (datetime(2026, 2, 1, 12, 0, tzinfo=UTC), "2026-02-01T12:00:00Z"),
    ],
)
def test_canonical_text(raw, expected):
    assert as_text(objects([raw])).tolist() == [expected]


def test_blank_text_and_nan_are_null():
    assert nullify(objects(["", None, float("nan"), " ", 0, False])).tolist() == [
        None,
        None,
        None,
        " ",
        0,
        False,
    ]


@pytest.mark.parametrize(
    ("raw", "type_", "expected"),
    [
        ("125000.5", "decimal", Decimal("125000.5")),
        (125000.5, "decimal", Decimal("125000.5")),
        ("1.5E+3", "decimal", Decimal("1500")),
        ("-0.00", "decimal", Decimal("0")),
        ("40", "integer", 40),
        (40.0, "integer", 40),
        ("40.000", "integer", 40),
        ("true", "boolean", True),
        ("FALSE", "boolean", False),
        (1, "boolean", True),
        ("2026-02-01", "date", date(2026, 2, 1)),
        ("2300-12-31", "date", date(2300, 12, 31)),
        ("2026-02-01T10:00:00.000+0000", "datetime", datetime(2026, 2, 1, 10, tzinfo=UTC)),
        ("2026-02-01T12:00:00+02:00", "datetime", datetime(2026, 2, 1, 10, tzinfo=UTC)),
        ("2026-02-01T10:00:00Z", "datetime", datetime(2026, 2, 1, 10, tzinfo=UTC)),
        (42, "string", "42"),
        ("", "decimal", None),
        (None, "date", None),
    ],
)
def test_values_parse_to_their_type(raw, type_, expected):
    value, problem = parse_scalar(raw, type_)
    assert (value, problem) == (expected, None)
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("raw", "type_", "problem"),
    [
        ("abc", "decimal", "is not a decimal number"),
        ("1,000.50", "decimal", "is not a decimal number"),
        ("1_000", "decimal", "is not a decimal number"),
        ("NaN", "decimal", "is not a decimal number"),
        ("Infinity", "decimal", "is not a decimal number"),
        (True, "decimal", "is not a decimal number"),
        ("2.5", "integer", "is not a whole number"),
        ("yes", "boolean", "is not a boolean (true or false)"),
        ("2026-02-30", "date", "is not a date (YYYY-MM-DD)"),
        ("01/02/2026", "date", "is not a date (YYYY-MM-DD)"),
        (
            "2026-02-01T10:00:00Z",
            "date",
            "is a date and time: set `tz` to say in which time zone its day is taken",
        ),
        ("2026-02-01T10:00:00", "datetime", "has no UTC offset (e.g. Z or +0000)"),
        ("2026-02-01", "datetime", "is not a date and time (ISO 8601 with offset)"),
    ],
)
def test_values_that_do_not_parse_say_why(raw, type_, problem):
    assert parse_scalar(raw, type_) == (None, problem)


def test_a_tz_picks_the_local_day_of_a_datetime():
    parsed = parse(objects(["2026-03-31T22:30:00.000+0000", "2026-03-31"]), "date", tz="Asia/Tokyo")
    assert parsed.values.tolist() == [date(2026, 4, 1), date(2026, 3, 31)]
    assert parsed.problems.tolist() == [None, None]


def test_a_column_keeps_nulls_as_none_never_nan():
    parsed = parse(objects([None, "1.5", "x", ""]), "decimal")
    assert parsed.values.tolist() == [None, Decimal("1.5"), None, None]
    assert parsed.bad.tolist() == [False, False, True, False]


def test_a_moment_whose_local_day_is_past_year_9999_is_a_problem_not_a_crash():
    parsed = parse(
        objects(["9999-12-31T23:30:00.000+0000", "2024-01-01T10:00:00Z"]),
        "date",
        tz="Pacific/Kiritimati",
    )  # UTC+14: the first moment's local day is 10000-01-01
    assert list(parsed.values) == [None, date(2024, 1, 2)]
    assert parsed.problems.iloc[0] == "is past the last date there is (9999-12-31) in `tz`"
    assert parsed.problems.iloc[1] is None


# -- a value (common.scalars, which types a mapping's values) and a column (transform.coerce) agree
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sync.common.scalars import TYPES  # noqa: E402

_pieces = st.sampled_from(
    [
        "",
        " ",
        "0",
        "1",
        "-",
        "+",
        ".",
        "e",
        "E5",
        "2026",
        "-02",
        "-30",
        "-01",
        "T",
        " ",
        "10:00",
        ":59",
        ".123456789",
        ".5",
        "Z",
        "+0000",
        "-05:00",
        "+14:00",
        "true",
        "FALSE",
        "9999-12-31",
        "0001-01-01",
        "T23:59:59",
        "1_000",
        "NaN",
        "x",
    ]
)
_raw = st.one_of(
    st.lists(_pieces, max_size=6).map("".join),
    st.integers(-(10**20), 10**20),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, places=4),
    st.dates(),
    st.datetimes(timezones=st.just(UTC)),
)


@settings(max_examples=600, deadline=None)
@given(
    raw=_raw,
    type_=st.sampled_from(TYPES),
    tz=st.sampled_from([None, "Asia/Tokyo", "America/New_York", "Pacific/Kiritimati"]),
)
def test_one_value_parses_as_a_column_of_it_does(raw, type_, tz):
    try:
        column = parse(objects([raw]), type_, tz)
    except (
        OverflowError,
        ValueError,
    ):  # pandas' own limits (a year -9999): a column question, not a mapping's
        return
    assert parse_scalar(raw, type_, tz) == (column.values.iloc[0], column.problems.iloc[0])


def test_loading_a_mapping_imports_no_pandas():
    """`status`, `forecast` and `check --offline` load a mapping alone: no numpy/pandas for that."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    probe = (
        "import json, sys; from sync.mapping.loader import load_mapping; "
        "load_mapping(__import__('pathlib').Path('mappings/opportunity_to_project.yaml')); "
        "print(json.dumps([m for m in ('pandas', 'numpy') if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=root
    )
    assert json.loads(done.stdout) == []
