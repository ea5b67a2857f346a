"""The shared SOQL parser: grammar, errors, rendering and SOQL's own evaluation semantics."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.extract.soql import (
    And,
    Comparison,
    InList,
    Not,
    Or,
    OrderItem,
    Query,
    SoqlEvaluationError,
    SoqlSyntaxError,
    and_,
    evaluate,
    field,
    not_,
    or_,
    parse_condition,
    parse_query,
    quote,
    to_soql,
)

# ----------------------------------------------------------------------------- parsing


def test_query_with_every_clause():
    q = parse_query(
        "SELECT Id, Name, Account.Name, Owner.Email FROM Opportunity "
        "WHERE IsWon = true ORDER BY SystemModstamp DESC NULLS LAST, Id LIMIT 50 OFFSET 10"
    )
    assert q == Query(
        sobject="Opportunity",
        fields=("Id", "Name", "Account.Name", "Owner.Email"),
        where=Comparison("IsWon", "=", True),
        order_by=(OrderItem("SystemModstamp", True, True), OrderItem("Id", False, False)),
        limit=50,
        offset=10,
    )


def test_count_query():
    q = parse_query("select count() from Opportunity where Amount > 0")
    assert q.count and q.fields == () and q.sobject == "Opportunity"


def test_keywords_ignore_case():
    q = parse_query("sElEcT Id FrOm Account WhErE Name != null OrDeR bY Name dEsC")
    assert q.order_by == (OrderItem("Name", descending=True),)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Amount >= 1000", Comparison("Amount", ">=", 1000)),
        ("Amount < 10.50", Comparison("Amount", "<", Decimal("10.50"))),
        ("Amount > -3", Comparison("Amount", ">", -3)),
        ("Name <> 'x'", Comparison("Name", "!=", "x")),
        ("IsWon = false", Comparison("IsWon", "=", False)),
        ("AccountId = null", Comparison("AccountId", "=", None)),
        ("CloseDate = 2024-01-31", Comparison("CloseDate", "=", date(2024, 1, 31))),
        ("Name LIKE 'Acme%'", Comparison("Name", "LIKE", "Acme%")),
        ("StageName IN ('A', 'B')", InList("StageName", ("A", "B"))),
        ("StageName NOT IN ('A')", InList("StageName", ("A",), negated=True)),
        ("NOT IsWon = true", Not(Comparison("IsWon", "=", True))),
    ],
)
def test_condition_forms(text, expected):
    assert parse_condition(text) == expected


@pytest.mark.parametrize(
    "literal, expected",
    [
        ("2024-01-31T10:00:00Z", datetime(2024, 1, 31, 10, tzinfo=UTC)),
        ("2024-01-31T10:00:00+02:00", datetime(2024, 1, 31, 8, tzinfo=UTC)),
        ("2024-01-31T10:00:00-05:30", datetime(2024, 1, 31, 15, 30, tzinfo=UTC)),
        ("2024-01-31T10:00:00.123Z", datetime(2024, 1, 31, 10, 0, 0, 123000, tzinfo=UTC)),
        (
            "2024-01-31T10:00:00.123456789+00:00",
            datetime(2024, 1, 31, 10, 0, 0, 123456, tzinfo=UTC),
        ),
    ],
)
def test_datetime_literals_are_aware_instants(literal, expected):
    value = parse_condition(f"SystemModstamp > {literal}").value
    assert value == expected and value.tzinfo is not None


def test_string_escapes():
    cond = parse_condition(r"Name = 'O\'Brien \\ \"q\" line\nnext \u00e9'")
    assert cond.value == 'O\'Brien \\ "q" line\nnext \u00e9'


def test_and_or_not_parentheses_nest():
    cond = parse_condition("(A = 1 OR B = 2) AND NOT (C = 3 AND D = 4)")
    assert cond == And(
        (
            Or((Comparison("A", "=", 1), Comparison("B", "=", 2))),
            Not(And((Comparison("C", "=", 3), Comparison("D", "=", 4)))),
        )
    )


def test_fields_lists_every_path():
    cond = parse_condition("(Account.Name = 'x' OR Amount > 1) AND NOT StageName IN ('a')")
    assert cond.fields() == {"Account.Name", "Amount", "StageName"}


@pytest.mark.parametrize(
    "text, fragment, position",
    [
        ("IsWon = true;", "unexpected character ';'", 12),
        ("(IsWon = true", "expected ')'", 13),
        ("IsWon = true)", "unbalanced parenthesis", 12),
        ("IsWon = true -- comment", "unexpected character '-'", 13),
        ("IsWon = true /* c */", "unexpected character '/'", 13),
        ("Id IN (SELECT Id FROM Account)", "subqueries are not supported", 7),
        ("A = 1 AND B = 2 OR C = 3", "cannot mix AND and OR", 16),
        ("IsWon = true IsClosed = true", "unexpected token 'IsClosed'", 13),
        ("Name = 'open", "unterminated string", 7),
        ("Name = 'a\\q'", "invalid escape", 9),
        ("CloseDate = 2024-02-30", "invalid date literal", 12),
        ("SystemModstamp > 2024-01-01T10:00", "malformed datetime literal", 17),
        ("CloseDate = TODAY", "expected a value", 12),
        ("Amount = :minimum", "unexpected character ':'", 9),
        ("Name LIKE 5", "LIKE needs a quoted string", 10),
        ("StageName IN ()", "expected a value", 14),
        ("Amount", "expected a comparison operator", 6),
        ("", "empty", 0),
    ],
)
def test_syntax_errors_say_what_and_where(text, fragment, position):
    with pytest.raises(SoqlSyntaxError) as info:
        parse_condition(text)
    assert fragment in info.value.message
    assert info.value.position == position


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("SELECT Id FROM Opportunity;", "unexpected character ';'"),
        ("SELECT Id, (SELECT Id, (SELECT Id FROM Notes) FROM Contacts) FROM Account", "subqueries"),
        (
            "SELECT Id FROM Account WHERE Name = 'a' OR Id IN (SELECT AccountId FROM Contact)",
            "only allowed at the top level",
        ),
        (
            "SELECT Id FROM Account WHERE Id IN (SELECT AccountId, Name FROM Contact)",
            "exactly one Id",
        ),
        ("SELECT COUNT(Id) FROM Account", "only COUNT()"),
        ("SELECT Id FROM Account GROUP BY Name", "unexpected token 'GROUP'"),
        ("SELECT Id FROM Account a", "unexpected token 'a'"),
        ("SELECT FROM Account", "expected a field name"),
        ("SELECT Id FROM Account LIMIT -1", "non-negative integer"),
        ("SELECT Id FROM Account ORDER BY Name NULLS", "FIRST or LAST"),
        ("", "cannot be empty"),
    ],
)
def test_query_syntax_errors(text, fragment):
    with pytest.raises(SoqlSyntaxError) as info:
        parse_query(text)
    assert fragment in info.value.message


# --------------------------------------------------------------------------- rendering


@pytest.mark.parametrize(
    "value, text",
    [
        ("O'Brien\\x\nz", "'O\\'Brien\\\\x\\nz'"),
        (True, "true"),
        (None, "null"),
        (42, "42"),
        (Decimal("1E+3"), "1000"),
        (2.5, "2.5"),
        (date(2024, 1, 31), "2024-01-31"),
        (datetime(2024, 1, 31, 12, 0, tzinfo=timezone(timedelta(hours=2))), "2024-01-31T10:00:00Z"),
        (datetime(2024, 1, 31, 10, 0, 0, 123999, tzinfo=UTC), "2024-01-31T10:00:00.123Z"),
    ],
)
def test_quote(value, text):
    assert quote(value) == text


def test_quote_refuses_naive_datetimes_and_unknown_types():
    with pytest.raises(ValueError, match="naive"):
        quote(datetime(2024, 1, 1))
    with pytest.raises(TypeError):
        quote(object())


def test_builder_composes_watermark_and_criteria_without_pasting_strings():
    since = datetime(2024, 5, 1, tzinfo=UTC)
    criteria = parse_condition("IsWon = true OR StageName = 'Closed Won'")
    cond = and_(field("SystemModstamp").ge(since), criteria)
    assert to_soql(cond) == (
        "SystemModstamp >= 2024-05-01T00:00:00Z AND (IsWon = true OR StageName = 'Closed Won')"
    )
    hostile = field("Name").eq("x' OR Name != '")
    assert parse_condition(to_soql(hostile)) == hostile


def test_builder_helpers():
    assert and_(None, field("A").eq(1)) == Comparison("A", "=", 1)
    assert or_(field("A").is_null(), field("B").in_([1, 2])) == Or(
        (Comparison("A", "=", None), InList("B", (1, 2)))
    )
    assert not_(field("A").not_in(["x"])) == Not(InList("A", ("x",), True))
    assert (field("A").eq(1) & field("B").eq(2)) == And(
        (Comparison("A", "=", 1), Comparison("B", "=", 2))
    )
    with pytest.raises(ValueError):
        field("Name; DROP")
    with pytest.raises(ValueError):
        field("A").in_([])


def test_query_round_trip():
    text = (
        "SELECT Id, Account.Name FROM Opportunity WHERE Amount > 5 "
        "ORDER BY Id DESC NULLS LAST LIMIT 3"
    )
    assert parse_query(to_soql(parse_query(text))) == parse_query(text)


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=3, min_value=-(10**9), max_value=10**9
    ),
    st.text(max_size=20),
    st.dates(),
    st.datetimes(timezones=st.just(UTC)).map(
        lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
    ),
)
_fields = st.sampled_from(["Name", "Amount", "Account.Name", "SystemModstamp"])
_leaves = st.one_of(
    st.builds(Comparison, _fields, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), _values),
    st.builds(InList, _fields, st.lists(_values, min_size=1, max_size=3).map(tuple), st.booleans()),
)
_conditions = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.builds(And, st.lists(inner, min_size=2, max_size=3).map(tuple)),
        st.builds(Or, st.lists(inner, min_size=2, max_size=3).map(tuple)),
        st.builds(Not, inner),
    ),
    max_leaves=6,
)


@given(_conditions)
def test_to_soql_round_trips_any_condition(cond):
    assert parse_condition(to_soql(cond)) == cond


# -------------------------------------------------------------------------- evaluation

DEAL = {
    "attributes": {"type": "Opportunity"},
    "Name": "Acme Rollout",
    "IsWon": True,
    "Amount": 1500.5,
    "CloseDate": "2024-03-15",
    "SystemModstamp": "2024-05-01T12:34:56.000+0000",
    "Description": None,
    "Account": {"attributes": {"type": "Account"}, "Name": "Acme"},
}
NO_ACCOUNT = {**DEAL, "Account": None}


@pytest.mark.parametrize(
    "text, record, expected",
    [
        ("IsWon = null", DEAL, False),  # a checkbox is never null
        ("IsWon != null", DEAL, True),
        ("Account.Name = null", NO_ACCOUNT, True),  # empty lookup: every parent field is null
        ("Account.Name = null", DEAL, False),
        ("Account.Name = 'ACME'", DEAL, True),  # text ignores case
        ("Name > 'acme a'", DEAL, True),
        ("Description = 'x'", DEAL, False),  # comparisons with null are false...
        ("Description != 'x'", DEAL, True),  # ...but != and NOT IN match a null field
        ("Description NOT IN ('x')", DEAL, True),
        ("Description < 'x'", DEAL, False),
        ("Amount > 1500", DEAL, True),
        ("Amount = 1500.50", DEAL, True),
        ("Amount IN (1, 1500.5)", DEAL, True),
        ("CloseDate >= 2024-03-15", DEAL, True),
        ("CloseDate < 2024-03-15", DEAL, False),
        ("SystemModstamp = 2024-05-01T14:34:56+02:00", DEAL, True),  # instants, not text
        ("SystemModstamp > 2024-05-01T12:34:55.999Z", DEAL, True),
        ("SystemModstamp < 2024-05-01T07:00:00-05:00", DEAL, False),
        ("Name LIKE 'acme%'", DEAL, True),
        ("Name LIKE '%ROLL%'", DEAL, True),
        ("Name LIKE 'Acme_Rollout'", DEAL, True),
        ("Name LIKE 'Acme\\_Rollout'", DEAL, False),
        ("Account.Name LIKE 'A%'", NO_ACCOUNT, False),
        ("NOT (IsWon = true)", DEAL, False),
        ("IsWon = true AND (Amount < 10 OR Account.Name = 'acme')", DEAL, True),
        ("name = 'acme rollout'", DEAL, True),  # field names ignore case too
    ],
)
def test_evaluate_follows_soql_semantics(text, record, expected):
    assert evaluate(parse_condition(text), record) is expected


def test_evaluate_accepts_typed_values():
    record = {
        "When": datetime(2024, 5, 1, 12, tzinfo=UTC),
        "Day": date(2024, 5, 1),
        "N": Decimal("3"),
    }
    assert evaluate(
        parse_condition("When >= 2024-05-01T12:00:00Z AND Day = 2024-05-01 AND N = 3"), record
    )


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("Missing__c = 1", "has no field 'Missing__c'"),
        ("Amount = 2024-01-01", "cannot compare"),
        ("IsWon = 1", "cannot compare"),
        ("IsWon > true", "only compare with ="),
        ("Name.Sub = 'x'", "not a relationship"),
    ],
)
def test_evaluate_errors_name_the_field(text, fragment):
    with pytest.raises(SoqlEvaluationError, match=fragment):
        evaluate(parse_condition(text), DEAL)


def test_a_query_reads_child_subqueries_and_top_level_semi_joins_and_renders_them_back():
    text = (
        "SELECT Id, (SELECT Id, Product2.Family FROM OpportunityLineItems WHERE Quantity > 0 "
        "ORDER BY SortOrder ASC NULLS FIRST LIMIT 5) FROM Opportunity WHERE Id IN "
        "(SELECT OpportunityId FROM OpportunityLineItem WHERE Quantity > 1) AND IsWon = true"
    )
    query = parse_query(text)
    (child,) = query.children
    assert (child.sobject, child.fields, child.limit) == (
        "OpportunityLineItems",
        ("Id", "Product2.Family"),
        5,
    )
    semi = query.where.items[0]
    assert (semi.field, semi.query.sobject, semi.query.fields) == (
        "Id",
        "OpportunityLineItem",
        ("OpportunityId",),
    )
    assert parse_query(to_soql(query)) == query


def test_a_criteria_string_still_refuses_a_semi_join():
    with pytest.raises(SoqlSyntaxError, match="subqueries are not supported"):
        parse_condition("Id IN (SELECT OpportunityId FROM OpportunityLineItem)")
