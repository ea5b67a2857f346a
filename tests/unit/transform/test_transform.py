"""transform(): a page of raw Salesforce records → desired project rows and per-row errors."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from sync.mapping.loader import load_mapping
from sync.transform.rows import backsync_problems, transform, transform_backsync
from tests.fixtures.records import (
    DEAL_ID,
    ROOT,
    as_bulk_csv,
    deal,
    mapping_from,
    only_error,
    only_row,
)


def test_a_won_deal_maps_to_typed_project_fields(default):
    row = only_row(transform([deal()], default))
    assert row.fields == {
        "name": "Acme Corp - Implementation",
        "customer": "Acme Corp",
        "budget": Decimal("125000.5"),
        "description": "Phase 1",
        "start_date": date(2026, 2, 1),
        "end_date": date(2026, 6, 30),
        "billing_type": "Fixed Fee",
    }
    assert (row.record_id, row.key) == (DEAL_ID, DEAL_ID)
    assert row.modstamp == datetime(2026, 2, 3, 10, 15, 30, tzinfo=UTC)
    assert (row.deleted, row.matches) == (False, True)


def test_bulk_csv_and_rest_json_of_one_record_map_identically(default):
    rest = deal(PSA_Project_Id__c="42", PSA_Percent_Complete__c=40, PSA_Hours_Spent__c=7.5)
    from_rest = only_row(transform([rest], default))
    from_csv = only_row(transform([as_bulk_csv(rest)], default))
    assert from_csv.fields == from_rest.fields
    assert from_csv.record_links == from_rest.record_links
    assert (from_csv.modstamp, from_csv.matches) == (from_rest.modstamp, from_rest.matches)


@pytest.mark.parametrize(
    "amount", [125000.5, "125000.50", "1.250005E+5", " 125000.5 ", "+125000.500"]
)
def test_decimals_are_normalised_whatever_their_spelling(default, amount):
    budget = only_row(transform([deal(Amount=amount)], default)).fields["budget"]
    assert (budget, str(budget)) == (Decimal("125000.5"), "125000.5")


def test_field_names_match_the_record_ignoring_case(default):
    record = {k.upper() if k != "Account" else "account": v for k, v in deal().items()}
    record["account"] = {"NAME": "Acme Corp"}
    assert only_row(transform([record], default)).fields["customer"] == "Acme Corp"


def test_an_empty_lookup_leaves_parent_fields_null(default):
    row = only_row(transform([deal(Account=None)], default))
    assert (row.fields["customer"], row.fields["name"]) == (
        None,
        "Implementation",
    )  # no dangling " - "


def test_a_null_amount_takes_the_default(default):
    assert only_row(transform([deal(Amount=None)], default)).fields["budget"] == Decimal("0")


def test_an_unmapped_value_is_an_actionable_error(default):
    error = only_error(transform([deal(Type="Barter")], default))
    assert (error.field, error.reason) == (
        "billing_type",
        "billing_type: 'Barter' (from Type) is not in the value map and unmapped is 'error'",
    )
    assert (error.record_id, error.key, error.matches, error.deleted) == (
        DEAL_ID,
        DEAL_ID,
        True,
        False,
    )
    assert error.modstamp == datetime(2026, 2, 3, 10, 15, 30, tzinfo=UTC)


def test_a_missing_required_value_is_an_error(default):
    error = only_error(transform([deal(Type=None)], default))
    assert error.reason == "billing_type: no value (from Type) and it is required"


def test_a_value_that_does_not_parse_is_an_error(default):
    error = only_error(transform([deal(Amount="abc")], default))
    assert (error.field, error.reason) == (
        "budget",
        "budget: 'abc' (from Amount) is not a decimal number",
    )


def test_every_failing_field_of_a_row_is_in_one_error(default):
    error = only_error(
        transform([deal(Amount="1,5", CloseDate="01/02/2026", Type="Barter")], default)
    )
    assert error.field == "budget"
    assert error.reason == (
        "budget: '1,5' (from Amount) is not a decimal number; "
        "start_date: '01/02/2026' (from CloseDate) is not a date (YYYY-MM-DD); "
        "billing_type: 'Barter' (from Type) is not in the value map and unmapped is 'error'"
    )


def test_the_error_payload_is_the_raw_record_without_attributes(default):
    error = only_error(transform([deal(Type="Barter")], default))
    expected = {k: v for k, v in deal(Type="Barter").items() if k != "attributes"}
    expected["Account"] = {"Name": "Acme Corp"}
    assert error.payload == expected
    assert json.loads(json.dumps(error.payload)) == expected


def test_a_bad_row_does_not_stop_the_page(default):
    records = [
        deal(Id=f"006AK00000AbCd{i}QAA", Type="Barter" if i == 1 else "New Customer")
        for i in range(3)
    ]
    result = transform(records, default)
    assert [r.record_id for r in result.rows] == ["006AK00000AbCd0QAA", "006AK00000AbCd2QAA"]
    assert [e.record_id for e in result.errors] == ["006AK00000AbCd1QAA"]


def test_a_long_name_is_truncated_by_default(default):
    row = only_row(transform([deal(Name="x" * 10_000)], default))
    assert row.fields["name"] == ("Acme Corp - " + "x" * 10_000)[:255]


def test_a_long_name_is_an_error_when_overflow_is_error(tmp_path):
    mapping = mapping_from(
        tmp_path, '  name: {template: "{Account.Name} - {Name}", max_length: 255, overflow: error}'
    )
    error = only_error(transform([deal(Name="x" * 10_000)], mapping))
    assert error.reason == (
        "name: 10012 characters (from template), more than max_length 255 and overflow is 'error'"
    )


def test_a_not_won_deal_maps_but_does_not_match(default):
    row = only_row(transform([deal(IsWon=False)], default))
    assert (row.matches, row.deleted) == (False, False)


def test_a_deleted_deal_never_matches(default):
    row = only_row(transform([deal(IsDeleted=True)], default))
    assert (row.matches, row.deleted) == (False, True)


def test_a_deleted_deal_that_no_longer_maps_says_so_in_its_error(default):
    error = only_error(transform([deal(IsDeleted=True, Type="Barter")], default))
    assert (error.deleted, error.matches) == (True, False)


def test_the_links_on_the_record_are_typed_for_drift_repair(default):
    record = deal(
        PSA_Project_Id__c="42",
        PSA_Project_URL__c="http://psa/projects/sf-1",
        PSA_Status__c="active",
        PSA_Percent_Complete__c=40.0,
        PSA_Hours_Spent__c="7.50",
    )
    assert only_row(transform([record], default)).record_links == {
        "PSA_Project_Id__c": "42",
        "PSA_Project_URL__c": "http://psa/projects/sf-1",
        "PSA_Status__c": "active",
        "PSA_Percent_Complete__c": 40,
        "PSA_Hours_Spent__c": Decimal("7.5"),
    }


def test_a_hand_typed_link_value_is_kept_as_is_so_it_gets_repaired(default):
    links = only_row(transform([deal(PSA_Percent_Complete__c="forty")], default)).record_links
    assert links["PSA_Percent_Complete__c"] == "forty"


def test_an_empty_page_gives_nothing(default):
    result = transform([], default)
    assert (result.rows, result.errors) == ([], [])


def test_a_record_without_a_modstamp_is_an_error_not_a_crash(default):
    record = deal()
    del record["SystemModstamp"]
    error = only_error(transform([record], default))
    assert (error.field, error.reason) == (
        "SystemModstamp",
        "SystemModstamp: the record has none (select it)",
    )
    assert error.modstamp == datetime(1970, 1, 1, tzinfo=UTC)


def test_criteria_compare_text_ignoring_case_and_treat_empty_lookups_as_null(tmp_path):
    mapping = mapping_from(
        tmp_path,
        "  customer: Account.Name",
        criteria="StageName = 'closed won' OR Account.Name = null",
    )
    records = [
        deal(Id="A", StageName="Closed Won"),
        deal(Id="B", StageName="Prospecting"),
        deal(Id="C", StageName="Prospecting", Account=None),
    ]
    assert [r.matches for r in transform(records, mapping).rows] == [True, False, True]


def test_criteria_follow_soql_null_semantics(tmp_path):
    mapping = mapping_from(
        tmp_path, "  customer: Account.Name", criteria="Type != 'Barter' AND Amount > 100"
    )
    records = [deal(Id="A", Type=None), deal(Id="B", Type="Barter"), deal(Id="C", Amount=None)]
    assert [r.matches for r in transform(records, mapping).rows] == [True, False, False]


def test_criteria_that_cannot_be_evaluated_quarantine_the_row(tmp_path):
    mapping = mapping_from(tmp_path, "  customer: Account.Name", criteria="Amount > 100")
    error = only_error(transform([deal(Amount="lots")], mapping))
    assert (error.field, error.matches) == ("(criteria)", True)
    assert error.reason == "Amount: cannot compare value 'lots' with literal 100"


def test_unmapped_default_and_pass(tmp_path):
    mapping = mapping_from(
        tmp_path,
        """\
        region: {from: Type, map: {"New Customer": New}, unmapped: default, default: Other}
        kind: {from: Type, map: {"New Customer": New}, unmapped: pass}
        """,
    )
    rows = transform(
        [deal(Id="A"), deal(Id="B", Type="Barter"), deal(Id="C", Type=None)], mapping
    ).rows
    assert [(r.fields["region"], r.fields["kind"]) for r in rows] == [
        ("New", "New"),
        ("Other", "Barter"),
        ("Other", None),
    ]


def test_a_checkbox_map_matches_json_and_csv_booleans(tmp_path):
    mapping = mapping_from(
        tmp_path,
        "  priority: {from: Strategic__c, map: {true: High, false: Normal}, unmapped: error}",
    )
    rows = transform(
        [deal(Id="A", Strategic__c=True), deal(Id="B", Strategic__c="false")], mapping
    ).rows
    assert [r.fields["priority"] for r in rows] == ["High", "Normal"]


def test_text_transforms_and_date_add(tmp_path):
    mapping = mapping_from(
        tmp_path,
        """\
        code: {from: Name, transform: [strip, upper]}
        email: {from: Owner.Email, transform: lower}
        blank: {from: Description, transform: strip}
        end_date: {from: CloseDate, type: date, date_add: {days: 90}}
        """,
    )
    record = deal(Name="  impl-7 ", Owner={"Email": "Ann@Example.COM"}, Description="   ")
    assert only_row(transform([record], mapping)).fields == {
        "code": "IMPL-7",
        "email": "ann@example.com",
        "blank": None,
        "end_date": date(2026, 5, 2),
    }


def test_a_datetime_becomes_a_date_only_with_an_explicit_tz(tmp_path):
    mapping = mapping_from(
        tmp_path,
        """\
        signed_paris: {from: Signed_At__c, type: date, tz: Europe/Paris}
        signed_utc: {from: Signed_At__c, type: date, tz: UTC}
        """,
    )
    row = only_row(transform([deal(Signed_At__c="2026-03-31T22:30:00.000+0000")], mapping))
    assert row.fields == {"signed_paris": date(2026, 4, 1), "signed_utc": date(2026, 3, 31)}
    no_tz = mapping_from(tmp_path, "  signed: {from: Signed_At__c, type: date}")
    error = only_error(transform([deal(Signed_At__c="2026-03-31T22:30:00.000+0000")], no_tz))
    assert error.reason == (
        "signed: '2026-03-31T22:30:00.000+0000' (from Signed_At__c) is a date and time: "
        "set `tz` to say in which time zone its day is taken"
    )


def test_datetime_integer_and_boolean_types(tmp_path):
    mapping = mapping_from(
        tmp_path,
        """\
        approved_at: {from: Approved_At__c, type: datetime}
        headcount: {from: Team_Size__c, type: integer}
        billable: {from: Billable__c, type: boolean}
        """,
    )
    rest = deal(Approved_At__c="2026-03-31T22:30:00.123+0200", Team_Size__c=4.0, Billable__c=False)
    csv = as_bulk_csv(rest)
    for record in (rest, csv):
        assert only_row(transform([record], mapping)).fields == {
            "approved_at": datetime(2026, 3, 31, 20, 30, 0, 123000, tzinfo=UTC),
            "headcount": 4,
            "billable": False,
        }


def test_a_fractional_integer_is_an_error(tmp_path):
    mapping = mapping_from(tmp_path, "  headcount: {from: Team_Size__c, type: integer}")
    error = only_error(transform([deal(Team_Size__c=2.5)], mapping))
    assert error.reason == "headcount: 2.5 (from Team_Size__c) is not a whole number"


def test_a_template_renders_literal_braces_and_several_fields(tmp_path):
    mapping = mapping_from(
        tmp_path, '  label: {template: "{{{Type}}} {Account.Name}/{Name} {Amount}"}'
    )
    assert only_row(transform([deal(Amount=100.0)], mapping)).fields["label"] == (
        "{New Customer} Acme Corp/Implementation 100"
    )


def test_a_template_with_every_field_null_is_null_so_required_applies(tmp_path):
    mapping = mapping_from(
        tmp_path, '  label: {template: "{Account.Name} - {Type}", required: true}'
    )
    error = only_error(transform([deal(Account=None, Type=None)], mapping))
    assert error.reason == "label: no value (from template) and it is required"


def test_an_external_id_key(tmp_path):
    mapping = mapping_from(tmp_path, "  customer: Account.Name", extra="key: Request_Number__c")
    rows = transform([deal(Request_Number__c="PR-0042")], mapping).rows
    assert [(r.record_id, r.key) for r in rows] == [(DEAL_ID, "PR-0042")]
    error = only_error(transform([deal(Request_Number__c=None)], mapping))
    assert error.reason == "Request_Number__c: the record has no value for the mapping's key"


def test_backsync_values_take_the_same_grammar(default):
    values = {
        "A": {"status": "active", "percent_complete": 40, "spent_hours": Decimal("7.50")},
        "B": {"status": "closed", "percent_complete": "100", "spent_hours": 12.25},
    }
    assert transform_backsync(values, default) == {
        "A": {
            "PSA_Status__c": "active",
            "PSA_Percent_Complete__c": 40,
            "PSA_Hours_Spent__c": Decimal("7.5"),
        },
        "B": {
            "PSA_Status__c": "closed",
            "PSA_Percent_Complete__c": 100,
            "PSA_Hours_Spent__c": Decimal("12.25"),
        },
    }


def test_backsync_maps_values_and_reports_what_it_cannot_write():
    mapping = load_mapping(ROOT / "mappings" / "examples" / "project_request.yaml")
    values = {
        "A": {"status": "closed", "percent_complete": 40.5, "spent_hours": None},
        "B": {"status": "on hold", "percent_complete": 10, "spent_hours": 1},
    }
    assert transform_backsync(values, mapping) == {
        "A": {"Delivery_Status__c": "Delivered", "Hours__c": None},
        "B": {"Delivery_Status__c": "on hold", "Progress__c": 10, "Hours__c": Decimal("1")},
    }
    assert backsync_problems(values, mapping) == {
        "A": ["Progress__c: 40.5 (from percent_complete) is not a whole number"]
    }
