"""`psa-sync check` as a user runs it: the CLI in a subprocess, the emulator and a real Redmine."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fixtures.sync import SyncHarness, line_of, mapping_variant

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MAPPING = ROOT / "mappings" / "opportunity_to_project.yaml"


@pytest.fixture
def harness(emulator, redmine_env, tmp_path) -> SyncHarness:
    """The usual harness, on the running Redmine *without* cleaning it: check only reads the PSA's
    fields, so it needs no empty Redmine and must not delete projects other tests are using."""
    reader = SimpleNamespace(env=redmine_env, url=redmine_env.url, api_key=redmine_env.api_key)
    return SyncHarness(emu=emulator, redmine=reader, workdir=tmp_path, mapping=DEFAULT_MAPPING)


def run_check(harness, *args: str) -> tuple[int, dict]:
    done = harness.cli("check", "--json", *args)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def by_level(report: dict, level: str) -> list[dict]:
    return [f for f in report["findings"] if f["level"] == level]


def test_default_mapping_passes_for_one_token_and_one_describe_per_object(harness, emulator):
    emulator.reset_calls()

    code, report = run_check(harness)

    assert code == 0, report
    assert report["version"] == 1 and report["ok"] is True
    assert by_level(report, "ERROR") == []
    assert emulator.calls_snapshot() == {"token": 1, "describe": 2}  # Opportunity and Account
    assert report["api_calls"] == {"token": 1, "describe": 2}
    # Account.Name feeds two project fields: each is warned about at its own line.
    stale = [f for f in by_level(report, "WARN") if "Account.Name" in f["message"]]
    assert {f["key"] for f in stale} == {
        "project.fields.name.template",
        "project.fields.customer.from",
    }
    assert all("SystemModstamp" in f["message"] for f in stale)
    assert {f["where"] for f in by_level(report, "OK")} >= {"salesforce", "psa"}


def test_misspelled_field_and_read_only_writeback_are_errors_at_their_lines(
    harness, emulator, tmp_path
):
    emulator.register_field("Opportunity", "PSA_Locked__c", "string", updateable=False)
    mapping = mapping_variant(
        tmp_path,
        ("from: Amount", "from: Amout"),
        ("PSA_Project_URL__c: project.url", "PSA_Locked__c: project.url"),
    )
    harness.write_config(mapping=mapping)

    code, report = run_check(harness)

    assert code == 2
    assert report["ok"] is False
    errors = {f["key"]: f for f in by_level(report, "ERROR")}
    assert set(errors) == {"project.fields.budget.from", "writeback.PSA_Locked__c"}
    amout = errors["project.fields.budget.from"]
    assert amout["where"] == f"{mapping}:{line_of(mapping, 'Amout')}"
    assert "Opportunity has no field 'Amout'" in amout["message"]
    assert "did you mean 'Amount'?" in amout["message"]
    locked = errors["writeback.PSA_Locked__c"]
    assert locked["where"] == f"{mapping}:{line_of(mapping, 'PSA_Locked__c')}"
    assert "Opportunity.PSA_Locked__c is not updateable" in locked["message"]


def test_human_report_has_one_line_per_finding_and_a_verdict(harness, tmp_path):
    mapping = mapping_variant(tmp_path, ("from: Amount", "from: Amout"))
    harness.write_config(mapping=mapping)

    done = harness.cli("check")

    assert done.returncode == 2
    lines = done.stdout.splitlines()
    assert lines[0].startswith(
        f"ERROR  {mapping}:{line_of(mapping, 'Amout')}  project.fields.budget.from: "
    )
    assert any(line.startswith("WARN ") and "Account.Name" in line for line in lines)
    assert lines[-1] == "check FAILED: 1 error(s), 2 warning(s); exit 2"


def test_parent_relationships_cost_one_describe_per_object_and_typos_in_them_are_named(
    harness, emulator, tmp_path
):
    mapping = mapping_variant(
        tmp_path,
        (
            "customer:    Account.Name",
            'customer:    {template: "{Account.Name} / {Account.Owner.Email}"}',
        ),
        ("from: Description, sync", "from: Acount.Description, sync"),
    )
    harness.write_config(mapping=mapping)
    emulator.reset_calls()

    code, report = run_check(harness)

    assert code == 2
    assert emulator.calls_snapshot() == {"token": 1, "describe": 3}  # Opportunity, Account, User
    (error,) = by_level(report, "ERROR")
    assert error["key"] == "project.fields.description.from"
    assert "Opportunity has no relationship 'Acount'; did you mean 'Account'?" in error["message"]
    owner = [f for f in by_level(report, "WARN") if "Account.Owner.Email" in f["message"]]
    assert owner and "parent User" in owner[0]["message"]


def test_picklist_map_keys_and_psa_list_values_are_checked(harness, emulator, tmp_path):
    mapping = mapping_variant(
        tmp_path,
        ('"New Customer": "Fixed Fee"', '"New Customr": "Fixed Fee"'),
        (
            '"Existing Customer - Downgrade": "Retainer"',
            '"Existing Customer - Downgrade": "Retainr"',
        ),
    )
    harness.write_config(mapping=mapping)

    code, report = run_check(harness)

    assert code == 2
    (error,) = by_level(report, "ERROR")
    assert error["key"] == "project.fields.billing_type.map.Existing Customer - Downgrade"
    assert "'Retainr' is not a value of the PSA list 'Billing type'" in error["message"]
    assert "did you mean 'Retainer'?" in error["message"]
    warnings = {f["key"]: f["message"] for f in by_level(report, "WARN")}
    assert "did you mean 'New Customer'?" in warnings["project.fields.billing_type.map.New Customr"]
    assert (
        "'New Customer'" in warnings["project.fields.billing_type.map"]
    )  # now uncovered: quarantined


def test_a_project_field_with_no_place_in_the_psa_is_an_error(harness, tmp_path):
    mapping = mapping_variant(tmp_path, ("    start_date:", "    kickoff_date:"))
    harness.write_config(mapping=mapping)

    code, report = run_check(harness)

    assert code == 2
    (error,) = by_level(report, "ERROR")
    assert error["key"] == "project.fields.kickoff_date"
    assert "has no place in the PSA" in error["message"]


def test_offline_contacts_nothing(harness, emulator, tmp_path):
    mapping = mapping_variant(tmp_path, ("from: Amount", "from: Amout"))
    harness.write_config(mapping=mapping)
    emulator.reset_calls()

    code, report = run_check(harness, "--offline")

    assert code == 0  # a misspelled field is only visible to describe
    assert report["offline"] is True
    assert emulator.calls_snapshot() == {}


def test_refused_credentials_exit_5(harness, emulator):
    harness.extra_env["SF_CLIENT_SECRET"] = "not-the-secret"

    code, report = run_check(harness)

    assert code == 5
    (error,) = by_level(report, "ERROR")
    assert error["where"] == "salesforce"
    assert "not-the-secret" not in json.dumps(report)


def test_unreachable_psa_exits_3_after_checking_salesforce(harness, emulator):
    harness.extra_env["REDMINE_URL"] = "http://127.0.0.1:9"  # discard port: nothing listens
    harness.write_config(retries=0)

    code, report = run_check(harness)

    assert code == 3
    (error,) = by_level(report, "ERROR")
    assert error["where"] == "psa"
    assert any(f["where"] == "salesforce" for f in by_level(report, "OK"))


def test_with_events_each_topic_is_looked_up_and_a_missing_one_names_the_fix(harness, emulator):
    harness.write_config(
        events={
            "enabled": True,
            "pubsub_url": emulator.pubsub_endpoint,
            "line_items_topic": "/data/Nope__chn",
        }
    )
    before = emulator.pubsub_snapshot().get("rpc.GetTopic", 0)

    code, report = run_check(harness)

    assert code == 2, report
    assert emulator.pubsub_snapshot().get("rpc.GetTopic", 0) - before == 2
    [ok] = [
        f for f in by_level(report, "OK") if f["where"] == "events /data/OpportunityChangeEvent"
    ]
    assert "can subscribe" in ok["message"]
    [error] = [f for f in by_level(report, "ERROR") if f["where"] == "events /data/Nope__chn"]
    assert "topic.not.found" in error["message"] and "Change Data Capture" in error["message"]
