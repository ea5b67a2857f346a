"""Fuzz: whatever value the pipeline puts in a query, the parser (and so the emulator and
Salesforce's grammar) reads back that value, inside its own quotes: the built condition is the
whole condition, with nothing added, lost or turned into a wildcard."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from sync.extract.soql import (
    Query,
    and_,
    evaluate,
    field,
    parse_condition,
    parse_query,
    quote,
    to_soql,
)
from tests.fixtures.profiles import examples
from tests.fixtures.soql_text import literal_pattern, tricky_text

FUZZ = settings(max_examples=examples(300), deadline=None)

_texts = tricky_text()
_SENTINEL = field("Id").ne("sentinel")  # after the fuzzed literal: it must survive intact

# Salesforce's documented string literal, independent of our parser: no raw control character,
# a backslash only in "Quoted String Escape Sequences", and \% \_ only in a LIKE pattern.
_BODY = r"(?:[^'\\\x00-\x1f\x7f]|\\[nNrRtTbBfF\"'\\]|\\u[0-9A-Fa-f]{4}"
_PLAIN = re.compile(_BODY + r")*'", re.DOTALL)
_LIKE = re.compile(_BODY + r"|\\[%_])*'", re.DOTALL)


def _is_salesforce_literal(text: str, like: bool = False) -> bool:
    return text.startswith("'") and (_LIKE if like else _PLAIN).fullmatch(text, 1) is not None


def _whole_query(cond):
    """The condition inside a full query, between a clause before it and clauses after it."""
    return Query("Opportunity", ("Id", "Name"), where=and_(cond, _SENTINEL), limit=7)


@FUZZ
@given(_texts, st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"]))
@example("x' OR Name != '", "eq")
@example("a\\%b", "eq")
@example("\\", "eq")
@example("\\'", "eq")
def test_a_text_value_round_trips_inside_its_quotes(value, op):
    cond = getattr(field("Name"), op)(value)
    assert _is_salesforce_literal(quote(value))
    assert parse_query(to_soql(_whole_query(cond))) == _whole_query(cond)


@FUZZ
@given(st.lists(_texts, min_size=1, max_size=4), st.booleans())
def test_an_in_list_of_text_round_trips(values, negated):
    cond = field("Name").not_in(values) if negated else field("Name").in_(values)
    assert all(_is_salesforce_literal(quote(value)) for value in values)
    assert parse_query(to_soql(_whole_query(cond))) == _whole_query(cond)


# LIKE patterns: SOQL's pattern grammar, so wildcards, escaped literals and plain text mixed.
_pattern_pieces = st.one_of(
    st.sampled_from(["%", "_", "\\%", "\\_", "\\\\"]),
    tricky_text(min_size=1, max_size=5, exclude="\\"),
)
_patterns = st.lists(_pattern_pieces, max_size=8).map("".join)


@FUZZ
@given(_patterns)
@example("C:\\\\%")
@example("100\\%")
@example("%' OR Name LIKE '%")
def test_a_like_pattern_round_trips_inside_its_quotes(pattern):
    cond = field("Name").like(pattern)
    assert _is_salesforce_literal(to_soql(cond).removeprefix("Name LIKE "), like=True)
    assert parse_query(to_soql(_whole_query(cond))) == _whole_query(cond)


@FUZZ
@given(_texts)
def test_an_escaped_pattern_matches_exactly_its_text(text):
    # Rendered, parsed, evaluated: each character literal, so it matches the text, no longer text.
    cond = parse_condition(to_soql(field("Name").like(literal_pattern(text))))
    assert evaluate(cond, {"Name": text})
    assert not evaluate(cond, {"Name": text + "x"})


@FUZZ
@given(_texts)
def test_any_text_is_a_pattern_or_refused_by_name(text):
    try:
        cond = field("Name").like(text)
    except ValueError as exc:
        assert "backslash" in str(exc) and repr(text) in str(exc)
    else:
        assert parse_condition(to_soql(cond)) == cond


# Numbers, dates and datetimes: quote() writes what the lexer reads as the same value.
_offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_datetimes = st.datetimes(datetime(2, 1, 1), datetime(9998, 12, 31), timezones=_offsets)
_numbers = st.one_of(
    st.integers(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
)


@FUZZ
@given(_numbers)
@example(Decimal("1E+3"))
@example(Decimal("-0"))
@example(1e-7)
def test_a_number_round_trips(number):
    parsed = parse_condition(f"Amount = {quote(number)}").value
    assert parsed == (Decimal(repr(number)) if isinstance(number, float) else number)


@FUZZ
@given(st.dates())
def test_a_date_round_trips(day):
    assert parse_condition(f"CloseDate = {quote(day)}").value == day


@FUZZ
@given(_datetimes)
def test_a_datetime_round_trips_to_the_millisecond(when):
    parsed = parse_condition(f"SystemModstamp = {quote(when)}").value
    assert parsed.tzinfo is not None
    assert parsed == when.astimezone(UTC).replace(microsecond=when.microsecond // 1000 * 1000)
