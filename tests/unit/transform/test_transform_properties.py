"""Properties of transform over random deal records (hypothesis).

- it never raises, and every record comes out exactly once: a valid row or an error with a reason;
- a deal maps to the same values alone or in any page, and as REST JSON or as Bulk CSV, so a
  create and a later update of an unchanged deal agree (no phantom updates);
- criteria evaluated over columns agree with :func:`sync.extract.soql.evaluate` record by record.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.extract import soql
from sync.mapping.loader import load_mapping
from sync.transform.criteria import evaluate_criteria
from sync.transform.frame import RecordFrame
from sync.transform.rows import transform
from tests.fixtures.profiles import examples
from tests.fixtures.records import as_bulk_csv

ROOT = Path(__file__).resolve().parents[3]
MAPPING = load_mapping(ROOT / "mappings" / "opportunity_to_project.yaml")
TYPES = [
    "New Customer",
    "Existing Customer - Upgrade",
    "Existing Customer - Replacement",
    "Existing Customer - Downgrade",
]
ALLOWED = (str, Decimal, int, bool, date, datetime, type(None))
PROPERTY = settings(
    max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300)
amounts = st.one_of(
    st.none(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9
    ).map(str),
    st.sampled_from(["abc", "1,000.50", "NaN", "1e5", " 12 ", "-0"]),
)
dates = st.one_of(
    st.none(),
    st.dates(date(1900, 1, 1), date(2400, 12, 31)).map(date.isoformat),
    st.sampled_from(["2026-02-30", "01/02/2026", "2026-02-01T10:00:00Z", "soon"]),
)
stamps = st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1)).map(
    lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}+0000"
)
accounts = st.one_of(
    st.none(), st.builds(lambda n: {"attributes": {"type": "Account"}, "Name": n}, text)
)


@st.composite
def deals(draw, index: int = 0) -> dict:
    return {
        "attributes": {"type": "Opportunity"},
        "Id": f"006{index:012d}AAA",
        "SystemModstamp": draw(stamps),
        "IsDeleted": draw(st.booleans()),
        "IsWon": draw(st.booleans()),
        "Name": draw(st.one_of(st.none(), text)),
        "Account": draw(accounts),
        "Amount": draw(amounts),
        "Description": draw(st.one_of(st.none(), text)),
        "CloseDate": draw(dates),
        "End_Date__c": draw(dates),
        "Type": draw(st.one_of(st.none(), st.sampled_from(TYPES), text)),
        "PSA_Project_Id__c": draw(st.one_of(st.none(), st.integers(1, 10**6).map(str))),
        "PSA_Project_URL__c": None,
        "PSA_Status__c": draw(st.one_of(st.none(), st.sampled_from(["active", "closed"]))),
        "PSA_Percent_Complete__c": draw(st.one_of(st.none(), st.integers(0, 100))),
        "PSA_Hours_Spent__c": draw(st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False))),
    }


pages = st.integers(1, 8).flatmap(lambda n: st.tuples(*[deals(i) for i in range(n)]).map(list))


def _typed(value) -> bool:
    return isinstance(value, ALLOWED) and not (isinstance(value, float) and math.isnan(value))


@PROPERTY
@given(pages)
def test_every_record_is_a_valid_row_or_an_error_with_a_reason(records):
    result = transform(records, MAPPING)
    seen = [r.record_id for r in result.rows] + [e.record_id for e in result.errors]
    assert sorted(seen) == sorted(r["Id"] for r in records)
    for row in result.rows:
        assert set(row.fields) == set(MAPPING.fields)
        assert all(_typed(v) for v in row.fields.values())
        assert row.fields["billing_type"] in ("Fixed Fee", "Time & Materials", "Retainer")
        assert isinstance(row.fields["budget"], Decimal)
        assert row.fields["name"] is None or len(row.fields["name"]) <= 255
        assert row.modstamp.tzinfo is not None
        assert not (row.deleted and row.matches)
    for error in result.errors:
        assert error.reason and error.field
        assert error.reason.startswith(error.field + ":") or error.field == "(criteria)"
        assert "attributes" not in error.payload


@PROPERTY
@given(deals(index=999), pages)
def test_a_deal_maps_the_same_alone_in_a_page_and_as_csv(record, others):
    alone = transform([record], MAPPING)
    among = transform([*others, record], MAPPING)
    as_csv = transform([as_bulk_csv(record)], MAPPING)
    assert (
        _outcome(alone, record["Id"])
        == _outcome(among, record["Id"])
        == _outcome(as_csv, record["Id"])
    )


def _outcome(result, record_id):
    rows = [
        (r.fields, r.record_links, r.matches, r.deleted)
        for r in result.rows
        if r.record_id == record_id
    ]
    errors = [(e.field, e.reason) for e in result.errors if e.record_id == record_id]
    return rows, errors


# ------------------------------------------------------------------ criteria vs soql.evaluate

FIELD_LITERALS = {
    "IsWon": st.booleans(),
    "Amount": st.one_of(
        st.integers(-1000, 1000), st.decimals(-1000, 1000, places=2, allow_nan=False)
    ),
    "Type": st.one_of(st.sampled_from(TYPES), st.sampled_from(["new customer", "X"])),
    "CloseDate": st.dates(date(2025, 1, 1), date(2027, 1, 1)),
    "Account.Name": st.sampled_from(["Acme", "acme", "Globex"]),
}
RECORD_VALUES = {
    "IsWon": st.booleans(),
    "Amount": st.one_of(
        st.none(), st.integers(-1000, 1000), st.floats(-1000, 1000, allow_nan=False), st.just("abc")
    ),
    "Type": st.one_of(st.none(), st.sampled_from([*TYPES, "NEW CUSTOMER", "x"])),
    "CloseDate": st.one_of(
        st.none(), st.dates(date(2025, 1, 1), date(2027, 1, 1)).map(date.isoformat)
    ),
    "Account": st.one_of(
        st.none(), st.sampled_from(["Acme", "ACME", "Globex"]).map(lambda n: {"Name": n})
    ),
}


@st.composite
def comparisons(draw):
    name = draw(st.sampled_from(sorted(FIELD_LITERALS)))
    literal = draw(st.one_of(FIELD_LITERALS[name], st.none()))
    kind = draw(st.sampled_from(["cmp", "in", "like"] if name == "Type" else ["cmp", "in"]))
    if kind == "in":
        values = draw(st.lists(st.one_of(FIELD_LITERALS[name], st.none()), min_size=1, max_size=3))
        return soql.InList(name, tuple(values), draw(st.booleans()))
    if kind == "like":
        return soql.Comparison(
            name, "LIKE", draw(st.sampled_from(["new%", "%customer%", "_", "%-%"]))
        )
    op = draw(
        st.sampled_from(["=", "!="] if isinstance(literal, bool) else list(soql.COMPARISON_OPS[:6]))
    )
    return soql.Comparison(name, op, literal)


conditions = st.recursive(
    comparisons(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda items: soql.And(tuple(items))),
        st.lists(inner, min_size=2, max_size=3).map(lambda items: soql.Or(tuple(items))),
        inner.map(soql.Not),
    ),
    max_leaves=6,
)
criteria_records = st.lists(st.fixed_dictionaries(RECORD_VALUES), min_size=1, max_size=8)


@PROPERTY
@given(conditions, criteria_records)
def test_vectorised_criteria_agree_with_soql_evaluate(condition, records):
    matches, problems = evaluate_criteria(condition, RecordFrame(records))
    for record, hit, problem in zip(records, matches, problems, strict=True):
        try:
            expected = soql.evaluate(condition, record)
        except soql.SoqlEvaluationError:
            assert problem is not None
            continue
        assert (bool(hit), problem) == (expected, None)


def test_a_condition_rendered_by_to_soql_evaluates_the_same_after_parsing():
    condition = soql.parse_condition("(IsWon = true AND Amount > 10) OR Account.Name = null")
    again = soql.parse_condition(soql.to_soql(condition))
    records = [
        {"IsWon": True, "Amount": 20, "Account": {"Name": "A"}},
        {"IsWon": False, "Amount": 5, "Account": None},
    ]
    frame = RecordFrame(records)
    assert (
        evaluate_criteria(condition, frame)[0].tolist()
        == evaluate_criteria(again, frame)[0].tolist()
        == [True, True]
    )


@pytest.mark.parametrize("literal", [True, 5, Decimal("2.5"), "x", date(2026, 1, 1)])
def test_null_fields_never_equal_a_value_but_are_not_equal_to_it(literal):
    frame = RecordFrame([{"F": None}])
    assert evaluate_criteria(soql.Comparison("F", "=", literal), frame)[0].tolist() == [False]
    assert evaluate_criteria(soql.Comparison("F", "!=", literal), frame)[0].tolist() == [True]
