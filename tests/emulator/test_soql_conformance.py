"""SOQL semantics where they differ from SQL, pinned through the emulator's REST API, and the
emulator's SQL translation cross-checked against ``sync.extract.soql.evaluate`` (the pipeline's
evaluator) on random conditions: both must pick the same records."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.emulator import Emulator
from sync.extract.soql import And, Comparison, InList, Not, Or, evaluate, field, quote, to_soql
from tests.fixtures.profiles import examples
from tests.fixtures.soql_text import literal_pattern, tricky_text

BASE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FIELDS = "Id, Name, Amount, CloseDate, SystemModstamp, IsWon, StageName, Description, Account.Name"


@pytest.fixture(scope="module")
def book():
    """One org for the whole module (read-only tests): deals chosen to hit every edge."""
    with Emulator() as emu:
        acme = emu.create("Account", Name="Acme")
        globex = emu.create("Account", Name="globex")
        deals = [
            ("Alpha", acme, 100, "Closed Won", "2024-01-31", 0, "first"),
            ("alpha two", acme, None, "Prospecting", "2024-02-01", 1, None),
            ("Beta_1", globex, 250.5, "Closed Won", "2024-03-15", 2, "it's"),
            ("Beta%2", None, 0, "Closed Lost", "2023-12-31", 3, "percent"),
            ("Gamma", None, None, "Negotiation/Review", "2024-06-30", 4, None),
            ("DELTA", globex, 99.99, "Closed Won", "2024-01-01", 5, "Delta"),
        ]
        for name, account, amount, stage, close, minutes, description in deals:
            stamp = BASE + timedelta(minutes=minutes, milliseconds=7)
            emu.create(
                "Opportunity",
                Name=name,
                AccountId=account,
                Amount=amount,
                StageName=stage,
                CloseDate=close,
                Description=description,
                _stamp=stamp,
            )
        yield emu


def names(emu, where, order="Name"):
    return [
        r["Name"] for r in emu.query(f"SELECT Name FROM Opportunity WHERE {where} ORDER BY {order}")
    ]


@pytest.mark.parametrize(
    "where, expected",
    [
        ("IsWon = null", []),  # a checkbox is never null
        ("IsWon != null", ["Alpha", "alpha two", "Beta%2", "Beta_1", "DELTA", "Gamma"]),
        ("Account.Name = null", ["Beta%2", "Gamma"]),  # no account: parent fields are null
        ("Account.Name != null", ["Alpha", "alpha two", "Beta_1", "DELTA"]),
        ("Account.Name = 'ACME'", ["Alpha", "alpha two"]),
        ("Name = 'ALPHA'", ["Alpha"]),  # text ignores case
        ("Name IN ('alpha', 'delta')", ["Alpha", "DELTA"]),
        ("Name NOT IN ('alpha', 'delta')", ["alpha two", "Beta%2", "Beta_1", "Gamma"]),
        (
            "Description != 'first'",
            ["alpha two", "Beta%2", "Beta_1", "DELTA", "Gamma"],
        ),  # != matches null
        ("Description NOT IN ('first')", ["alpha two", "Beta%2", "Beta_1", "DELTA", "Gamma"]),
        ("Amount < 100", ["Beta%2", "DELTA"]),  # null Amount is neither < nor >=
        ("NOT (Amount < 100)", ["Alpha", "alpha two", "Beta_1", "Gamma"]),  # two-valued NOT
        ("Name LIKE 'al%'", ["Alpha", "alpha two"]),
        ("Name LIKE 'beta_%'", ["Beta%2", "Beta_1"]),
        ("Name LIKE 'beta\\_%'", ["Beta_1"]),
        ("Name LIKE '%\\%%'", ["Beta%2"]),
        ("Description = 'it\\'s'", ["Beta_1"]),
        ("CloseDate >= 2024-02-01 AND CloseDate <= 2024-03-15", ["alpha two", "Beta_1"]),
        ("SystemModstamp >= 2024-05-01T14:02:00+02:00", ["Beta%2", "Beta_1", "DELTA", "Gamma"]),
        ("SystemModstamp > 2024-05-01T07:02:00.007-05:00", ["Beta%2", "DELTA", "Gamma"]),
        ("SystemModstamp = 2024-05-01T12:02:00.007Z", ["Beta_1"]),
        ("(IsWon = true OR Amount = 0) AND Account.Name != null", ["Alpha", "Beta_1", "DELTA"]),
    ],
)
def test_soql_semantics(book, where, expected):
    assert names(book, where) == expected


def test_order_by_several_fields_with_nulls(book):
    rows = book.query(
        "SELECT Name, Amount FROM Opportunity ORDER BY IsWon DESC, Amount DESC NULLS LAST, Name"
    )
    assert [r["Name"] for r in rows] == ["Beta_1", "Alpha", "DELTA", "Beta%2", "alpha two", "Gamma"]
    nulls_first = book.query("SELECT Name FROM Opportunity ORDER BY Amount, Name")
    assert [r["Name"] for r in nulls_first][:2] == ["alpha two", "Gamma"]


def test_order_by_text_ignores_case(book):
    assert names(book, "Name != null") == [
        "Alpha",
        "alpha two",
        "Beta%2",
        "Beta_1",
        "DELTA",
        "Gamma",
    ]


def test_limit_and_offset(book):
    all_names = names(book, "Name != null")
    rows = book.query("SELECT Name FROM Opportunity ORDER BY Name LIMIT 2 OFFSET 3")
    assert [r["Name"] for r in rows] == all_names[3:5]
    assert book.query("SELECT COUNT() FROM Opportunity WHERE IsWon = true") == [{"count": 3}]


def test_keyset_paging_pattern(book):
    """Keyset paging, as the incremental reader pages an open window.

    WHERE (SystemModstamp > :t) OR (SystemModstamp = :t AND Id > :id) ORDER BY SystemModstamp, Id.
    """
    ordered = book.query("SELECT Id, SystemModstamp FROM Opportunity ORDER BY SystemModstamp, Id")
    pivot = ordered[2]
    rest = book.query(
        f"SELECT Id FROM Opportunity WHERE SystemModstamp > {pivot['SystemModstamp'][:23]}Z OR "
        f"(SystemModstamp = {pivot['SystemModstamp'][:23]}Z AND Id > '{pivot['Id']}') "
        "ORDER BY SystemModstamp, Id"
    )
    assert [r["Id"] for r in rest] == [r["Id"] for r in ordered[3:]]


def test_fifteen_character_ids_match(book):
    deal = book.query("SELECT Id FROM Opportunity LIMIT 1")[0]["Id"]
    assert [
        r["Id"] for r in book.query(f"SELECT Id FROM Opportunity WHERE Id = '{deal[:15]}'")
    ] == [deal]
    assert [
        r["Id"] for r in book.query(f"SELECT Id FROM Opportunity WHERE Id IN ('{deal.lower()}')")
    ] == [deal]


# ---------------------------------------------------- SQL translation == evaluate()

_VALUES = {
    "Name": st.sampled_from(["alpha", "ALPHA", "Beta_1", "gamma", "zz", "a"]),
    "Description": st.one_of(st.none(), st.sampled_from(["first", "Delta", "it's", "m"])),
    "Amount": st.one_of(
        st.none(), st.sampled_from([0, 100, 99.99, 250.5, -1]).map(lambda v: Decimal(str(v)))
    ),
    "CloseDate": st.dates(date(2023, 12, 1), date(2024, 7, 1)),
    "SystemModstamp": st.integers(-2, 8).map(lambda m: BASE + timedelta(minutes=m, milliseconds=7)),
    "IsWon": st.one_of(st.none(), st.booleans()),
    "Account.Name": st.one_of(st.none(), st.sampled_from(["acme", "GLOBEX", "x"])),
    "StageName": st.sampled_from(["Closed Won", "closed lost", "Prospecting"]),
}
_ORDER_OPS = ["=", "!=", "<", "<=", ">", ">="]


@st.composite
def _leaf(draw):
    name = draw(st.sampled_from(sorted(_VALUES)))
    values = _VALUES[name]
    if name == "IsWon":
        return Comparison(name, draw(st.sampled_from(["=", "!="])), draw(values))
    kind = draw(
        st.sampled_from(["cmp", "in", "like"] if name in ("Name", "Description") else ["cmp", "in"])
    )
    if kind == "in":
        return InList(
            name, tuple(draw(st.lists(values, min_size=1, max_size=3))), draw(st.booleans())
        )
    if kind == "like":
        return Comparison(
            name, "LIKE", draw(st.sampled_from(["%a%", "a%", "_eta%", "%\\_%", "ALPHA"]))
        )
    return Comparison(name, draw(st.sampled_from(_ORDER_OPS)), draw(values))


_conditions = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.builds(And, st.lists(inner, min_size=2, max_size=3).map(tuple)),
        st.builds(Or, st.lists(inner, min_size=2, max_size=3).map(tuple)),
        st.builds(Not, inner),
    ),
    max_leaves=5,
)


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(_conditions)
def test_emulator_sql_and_evaluate_agree(book, condition):
    every = book.query(f"SELECT {FIELDS} FROM Opportunity")
    expected = sorted(r["Id"] for r in every if evaluate(condition, r))
    chosen = book.query(f"SELECT Id FROM Opportunity WHERE {to_soql(condition)}")
    assert sorted(r["Id"] for r in chosen) == expected


# ------------------------------------------- literals: what to_soql writes, the emulator reads


@pytest.fixture(scope="module")
def emulator():
    """A second org, written to by the tests below (``book`` stays read-only)."""
    with Emulator() as emu:
        yield emu


def test_the_emulator_reads_like_escapes_as_salesforce_does():
    with Emulator() as emu:
        for name in ["a\\%b", "a%b", "a\\xb"]:
            emu.create("Opportunity", Name=name, StageName="Prospecting", CloseDate="2024-01-01")

        def names(where):
            return sorted(
                r["Name"] for r in emu.query(f"SELECT Name FROM Opportunity WHERE {where}")
            )

        assert names(r"Name LIKE 'a\\%'") == ["a\\%b", "a\\xb"]
        assert names(r"Name LIKE 'a\%b'") == ["a%b"]
        assert names(r"Name LIKE 'a\\\%b'") == ["a\\%b"]
        assert names(r"Name = 'a\\%b'") == ["a\\%b"]
        assert names(to_soql(field("Name").like("a\\\\%"))) == ["a\\%b", "a\\xb"]


@settings(max_examples=examples(100), deadline=None)
@given(name=tricky_text(min_size=1, exclude="\x00"))  # SQLite's LIKE stops at a NUL in the text
def test_the_emulator_finds_a_record_by_its_quoted_name(emulator, name):
    deal = emulator.create(
        "Opportunity", Name=name, StageName="Prospecting", CloseDate="2024-01-01"
    )
    stored = emulator.query(f"SELECT Name FROM Opportunity WHERE Id = {quote(deal)}")[0]["Name"]
    for cond in (field("Name").eq(stored), field("Name").like(literal_pattern(stored))):
        found = emulator.query(f"SELECT Id, Name FROM Opportunity WHERE {to_soql(cond)}")
        assert deal in [r["Id"] for r in found], cond
        assert {r["Name"].casefold() for r in found} == {stored.casefold()}, (
            cond
        )  # text ignores case
