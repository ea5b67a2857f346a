"""Loading valid mappings: the typed objects, the derived SOQL field list, the fingerprint."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from sync.extract import soql
from sync.mapping.loader import load_mapping

ROOT = Path(__file__).resolve().parents[3]
DEFAULT = ROOT / "mappings" / "opportunity_to_project.yaml"
EXAMPLES = sorted((ROOT / "mappings" / "examples").glob("*.yaml"))


@pytest.fixture(scope="module")
def default():
    return load_mapping(DEFAULT)


def test_the_default_mapping_reads_won_opportunities_since_its_start_date(default):
    assert default.source.object == "Opportunity"
    assert default.source.criteria == soql.Comparison("IsWon", "=", True)
    assert default.source.criteria_text == "IsWon = true"
    assert default.source.start_date == date(2026, 1, 1)
    assert default.source.lookback == timedelta(minutes=10)
    assert default.key == "Id"


def test_the_default_mapping_has_the_agreed_fields(default):
    fields = default.fields
    assert list(fields) == [
        "name",
        "customer",
        "budget",
        "description",
        "start_date",
        "end_date",
        "billing_type",
    ]
    assert fields["name"].template_parts == (("", "Account.Name", "?"), (" - ", "Name", None))
    assert (fields["name"].max_length, fields["name"].overflow) == (255, "truncate")
    assert fields["customer"].source == "Account.Name"
    assert (fields["budget"].type, fields["budget"].default) == ("decimal", Decimal("0"))
    assert fields["end_date"].source == "End_Date__c"
    billing = fields["billing_type"]
    assert billing.value_map == {
        "New Customer": "Fixed Fee",
        "Existing Customer - Upgrade": "Time & Materials",
        "Existing Customer - Replacement": "Time & Materials",
        "Existing Customer - Downgrade": "Retainer",
    }
    assert (billing.unmapped, billing.required, billing.line) == ("error", True, 21)


def test_links_backsync_lifecycle_and_conflicts(default):
    assert default.writeback == {
        "PSA_Project_Id__c": "project.id",
        "PSA_Project_URL__c": "project.url",
    }
    assert default.link_field == "PSA_Project_Id__c"
    assert {f: (r.source, r.type) for f, r in default.backsync.items()} == {
        "PSA_Status__c": ("status", "string"),
        "PSA_Percent_Complete__c": ("percent_complete", "integer"),
        "PSA_Hours_Spent__c": ("spent_hours", "decimal"),
    }
    assert (default.lifecycle.on_unwon, default.lifecycle.on_deleted) == ("flag", "flag")
    assert default.conflicts == "crm_wins"
    assert default.on_create_fields() == {"description"}


def test_the_soql_field_list_comes_from_the_mapping(default):
    assert default.soql_fields() == [
        "Id",
        "SystemModstamp",
        "IsDeleted",
        "Account.Name",
        "Name",
        "Amount",
        "Description",
        "CloseDate",
        "End_Date__c",
        "Type",
        "IsWon",
        "PSA_Project_Id__c",
        "PSA_Project_URL__c",
        "PSA_Status__c",
        "PSA_Percent_Complete__c",
        "PSA_Hours_Spent__c",
    ]


def test_the_soql_field_list_ignores_case_when_deduplicating(tmp_path):
    text = DEFAULT.read_text().replace("customer:    Account.Name", "customer:    account.NAME")
    text = text.replace('criteria: "IsWon = true"', 'criteria: "isWON = true AND name != null"')
    path = tmp_path / "m.yaml"
    path.write_text(text)
    fields = load_mapping(path).soql_fields()
    assert [f.lower() for f in fields].count("account.name") == 1
    assert [f.lower() for f in fields].count("iswon") == 1
    assert [f.lower() for f in fields].count("name") == 1


def test_the_fingerprint_ignores_comments_layout_and_key_order(default, tmp_path):
    text = DEFAULT.read_text()
    reordered = "conflicts: crm_wins\n" + "\n".join(
        line.split("#")[0].rstrip()
        for line in text.splitlines()
        if not line.startswith("conflicts")
    )
    path = tmp_path / "same.yaml"
    path.write_text(reordered)
    assert load_mapping(path).fingerprint == default.fingerprint


def test_the_fingerprint_changes_with_a_rule(default, tmp_path):
    path = tmp_path / "changed.yaml"
    path.write_text(DEFAULT.read_text().replace("default: 0", "default: 1"))
    assert load_mapping(path).fingerprint != default.fingerprint


def test_a_short_form_is_a_from(tmp_path):
    path = tmp_path / "short.yaml"
    path.write_text(DEFAULT.read_text())
    rule = load_mapping(path).fields["customer"]
    assert (rule.source, rule.template, rule.type, rule.required) == (
        "Account.Name",
        None,
        "string",
        False,
    )


def test_criteria_and_lookback_are_optional(tmp_path):
    text = (
        DEFAULT.read_text().replace('  criteria: "IsWon = true"', "").replace("  lookback: 10m", "")
    )
    path = tmp_path / "open.yaml"
    path.write_text(text)
    mapping = load_mapping(path)
    assert mapping.source.criteria is None
    assert mapping.source.lookback == timedelta(minutes=10)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_mapping_loads(path):
    assert load_mapping(path).fields


def test_the_custom_object_example_uses_its_own_key_and_features():
    mapping = load_mapping(ROOT / "mappings" / "examples" / "project_request.yaml")
    assert (mapping.source.object, mapping.key) == ("Project_Request__c", "Request_Number__c")
    fields = mapping.fields
    assert fields["end_date"].date_add_days == 90
    assert fields["signed_on"].tz == "Europe/Paris"
    assert fields["code"].transforms == ("strip", "upper")
    assert fields["headcount"].default == 1
    assert fields["billable"].default is True
    assert fields["name"].read_fields() == ["Account__r.Name", "Request_Number__c", "Practice__c"]
    assert mapping.link_field == "Project_Id__c"


def test_map_keys_of_any_scalar_meet_as_text():
    mapping = load_mapping(ROOT / "mappings" / "examples" / "value_maps.yaml")
    assert mapping.fields["priority"].value_map == {"true": "High", "false": "Normal"}
    assert mapping.fields["discount_rate"].value_map == {
        "Gold": Decimal("0.15"),
        "Silver": Decimal("0.1"),
        "Bronze": Decimal("0.05"),
    }
