"""`psa-sync check` against `responses`: offline validation, then describes and Redmine fields.

Each test states one behaviour a user relies on: what is an error (exit 2), what is only a
warning (exit 0), where the finding points (file:line and key), and what the check costs.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import responses

from sync.ops.check import runner as checker
from tests.fixtures.sync import line_of, mapping_variant

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_MAPPING = ROOT / "mappings" / "opportunity_to_project.yaml"
HOST = "https://acme.my.salesforce.com"
API = f"{HOST}/services/data/v62.0"
REDMINE = "https://redmine.test"  # the config refuses plain http to any host but this machine
SECRET = "s3cr3t-CLIENT-SECRET-value"
API_KEY = "r3dm1ne-API-KEY-value"
TYPES = [
    "New Customer",
    "Existing Customer - Upgrade",
    "Existing Customer - Replacement",
    "Existing Customer - Downgrade",
]


# --- describe bodies, shaped like Salesforce's ----------------------------------------------------


def fld(name: str, type_: str = "string", **kw) -> dict:
    picklist = kw.pop("picklist", ())
    inactive = kw.pop("inactive", ())
    body = {
        "name": name,
        "type": type_,
        "label": name,
        "updateable": True,
        "createable": True,
        "calculated": False,
        "custom": name.endswith("__c"),
        "externalId": False,
        "unique": False,
        "nillable": True,
        "referenceTo": [],
        "relationshipName": None,
        "picklistValues": [
            {"value": v, "label": v, "active": True, "defaultValue": False, "validFor": None}
            for v in picklist
        ]
        + [
            {"value": v, "label": v, "active": False, "defaultValue": False, "validFor": None}
            for v in inactive
        ],
    }
    body.update(kw)
    return body


def ro(name: str, type_: str, **kw) -> dict:
    return fld(name, type_, updateable=False, createable=False, **kw)


def ref(name: str, to: list[str], rel: str, **kw) -> dict:
    return fld(name, "reference", referenceTo=to, relationshipName=rel, **kw)


def system(*extra: dict) -> list[dict]:
    return [
        ro("Id", "id"),
        ro("IsDeleted", "boolean"),
        ro("SystemModstamp", "datetime"),
        ref("OwnerId", ["User"], "Owner"),
        *extra,
    ]


def opportunity(
    *extra: dict, types: list[str] | None = None, inactive: tuple[str, ...] = ()
) -> dict:
    fields = system(
        fld("Name"),
        ref("AccountId", ["Account"], "Account"),
        fld("Amount", "currency"),
        fld("CloseDate", "date"),
        ro("IsWon", "boolean"),
        fld("Type", "picklist", picklist=TYPES if types is None else types, inactive=inactive),
        fld("Description", "textarea"),
        fld("End_Date__c", "date"),
        fld("PSA_Project_Id__c"),
        fld("PSA_Project_URL__c", "url"),
        fld("PSA_Status__c"),
        fld("PSA_Percent_Complete__c", "percent"),
        fld("PSA_Hours_Spent__c", "double"),
        ref("Partner__c", ["Account", "Contact"], "Partner__r"),
        *extra,
    )
    return {"name": "Opportunity", "fields": fields}


def account(*extra: dict) -> dict:
    return {"name": "Account", "fields": system(fld("Name"), fld("Type", "picklist"), *extra)}


def user() -> dict:
    return {"name": "User", "fields": system(fld("Email", "email"))}


# --- Redmine's /custom_fields.json ----------------------------------------------------------------


def cf(
    id_: int,
    name: str,
    fmt: str = "string",
    required: bool = False,
    values: list[str] | None = None,
) -> dict:
    body = {
        "id": id_,
        "name": name,
        "customized_type": "project",
        "field_format": fmt,
        "is_required": required,
    }
    if values:
        body["possible_values"] = [{"value": v, "label": v} for v in values]
    return body


REDMINE_FIELDS = [
    cf(1, "Salesforce Opportunity Id"),
    cf(2, "Customer"),
    cf(3, "Budget", "float"),
    cf(4, "Billing type", "list", True, ["Fixed Fee", "Time & Materials", "Retainer"]),
    cf(5, "Start date", "date"),
    cf(6, "End date", "date"),
    cf(7, "Percent complete", "int"),
    cf(8, "Salesforce status"),
]


# --- wiring ---------------------------------------------------------------------------------------


class Org:
    """Registers the token, describe and Redmine answers a test needs on a RequestsMock."""

    def __init__(self, mock: responses.RequestsMock):
        self.mock = mock

    def token(self, status: int = 200, body: dict | None = None) -> None:
        body = (
            body
            if body is not None
            else {
                "access_token": "00Dx!ACCESS",
                "instance_url": HOST,
                "token_type": "Bearer",
                "id": "https://login.salesforce.com/id/00Di0000000icUB/005i0000000abcD",
            }
        )
        self.mock.add(
            responses.POST,
            f"{HOST}/services/oauth2/token",
            json=body,
            status=status,
            headers={"Date": "Mon, 02 Mar 2026 12:00:07 GMT"},
        )

    def describe(self, body: dict, name: str | None = None, status: int = 200) -> None:
        self.mock.add(
            responses.GET,
            f"{API}/sobjects/{name or body['name']}/describe",
            json=body,
            status=status,
        )

    def redmine(self, fields: list[dict] | None = None, status: int = 200) -> None:
        self.mock.add(
            responses.GET,
            f"{REDMINE}/custom_fields.json",
            json={"custom_fields": REDMINE_FIELDS if fields is None else fields},
            status=status,
        )

    def standard(
        self, opp: dict | None = None, acc: dict | None = None, psa: list[dict] | None = None
    ) -> None:
        self.token()
        self.describe(opp or opportunity())
        self.describe(acc or account())
        self.redmine(psa)

    def calls(self, kind: str) -> int:
        return sum(kind in call.request.url for call in self.mock.calls)


@pytest.fixture
def org():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield Org(mock)


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("SF_CLIENT_ID", "CONSUMER-KEY")
    monkeypatch.setenv("SF_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("REDMINE_API_KEY", API_KEY)


def write_config(
    tmp_path: Path, mapping: Path = DEFAULT_MAPPING, extra: str = "", options: str = "{}"
) -> Path:
    path = tmp_path / "psa-sync.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        salesforce:
          login_url: {HOST}
          auth:
            flow: client_credentials
            client_id: "${{SF_CLIENT_ID}}"
            client_secret: "${{SF_CLIENT_SECRET}}"
        psa:
          connector: redmine
          url: {REDMINE}
          api_key: ${{REDMINE_API_KEY}}
          options: {options}
        mapping: {mapping}
        http: {{timeout: 5s, retries: 0}}
        """)
        + extra
    )
    return path


def findings(result: checker.CheckResult, level: str) -> dict[str, str]:
    """key (or where) -> message for one level."""
    return {f.key or f.where: f.message for f in result.findings if f.level == level}


def run(
    tmp_path: Path, *replacements: tuple[str, str], offline: bool = False, **config
) -> checker.CheckResult:
    mapping = mapping_variant(tmp_path, *replacements) if replacements else DEFAULT_MAPPING
    return checker.check(write_config(tmp_path, mapping, **config), offline=offline)


# --- offline --------------------------------------------------------------------------------------


def test_offline_reports_every_config_problem_at_once_and_contacts_nothing(
    tmp_path, env, org, monkeypatch
):
    monkeypatch.delenv("REDMINE_API_KEY")
    path = write_config(tmp_path, extra="limits: {max_calls_per_run: lots}\nsurprise: 1\n")

    result = checker.check(path, offline=True)

    assert result.exit_code == 2
    messages = " | ".join(f.text() for f in result.errors)
    assert "REDMINE_API_KEY" in messages and "lots" in messages and "surprise" in messages
    assert len(result.errors) == 3
    assert {f.key: f.where for f in result.errors} == {
        "psa.api_key": f"{path}:{line_of(path, 'api_key:')}",
        "limits.max_calls_per_run": f"{path}:{line_of(path, 'lots')}",
        "surprise": f"{path}:{line_of(path, 'surprise')}",
    }
    assert len(org.mock.calls) == 0


def test_offline_mapping_problems_name_file_line_and_key(tmp_path, env, org):
    result = run(
        tmp_path,
        ("unmapped: error", "unmapped: sometimes"),
        ("on_deleted: flag", "on_deleted: shred"),
        offline=True,
    )

    mapping = tmp_path / "mapping.yaml"
    assert result.exit_code == 2
    where = {f.key: f.where for f in result.errors}
    assert where == {
        "project.fields.billing_type.unmapped": f"{mapping}:{line_of(mapping, 'sometimes')}",
        "lifecycle.on_deleted": f"{mapping}:{line_of(mapping, 'shred')}",
    }
    assert len(org.mock.calls) == 0


def test_offline_passes_a_good_mapping_without_a_single_call(tmp_path, env, org):
    result = run(tmp_path, offline=True)

    assert result.exit_code == 0 and result.ok
    assert len(org.mock.calls) == 0
    body = result.to_json()
    assert body["version"] == 1 and body["ok"] is True and body["offline"] is True
    assert [f["level"] for f in body["findings"]] == ["OK"]
    assert "nothing was contacted" in result.text()


def test_offline_checks_connector_options_without_the_network(tmp_path, env, org):
    result = run(tmp_path, offline=True, options="{write_concurency: 2}")

    assert result.exit_code == 2
    (error,) = result.errors
    assert "write_concurency" in error.message
    assert len(org.mock.calls) == 0


# --- Salesforce -----------------------------------------------------------------------------------


def test_default_mapping_passes_for_one_token_and_one_describe_per_object(tmp_path, env, org):
    org.standard()

    result = run(tmp_path)

    assert result.exit_code == 0, result.text()
    assert result.api_calls == {"token": 1, "describe": 2}
    assert org.calls("/describe") == 2 and org.calls("/custom_fields.json") == 1
    assert set(findings(result, "WARN")) == {
        "project.fields.name.template",
        "project.fields.customer.from",
    }


def test_a_misspelled_field_is_an_error_with_a_suggestion(tmp_path, env, org):
    org.standard()

    result = run(tmp_path, ("from: Amount", "from: Amout"))

    assert result.exit_code == 2
    (error,) = result.errors
    mapping = tmp_path / "mapping.yaml"
    assert error.where == f"{mapping}:{line_of(mapping, 'Amout')}"
    assert error.key == "project.fields.budget.from"
    assert error.message == (
        "Opportunity has no field 'Amout' (or the integration user cannot read it); "
        "did you mean 'Amount'?"
    )


def test_field_names_are_matched_ignoring_case_like_salesforce(tmp_path, env, org):
    org.standard()

    result = run(
        tmp_path,
        ("from: Amount", "from: AMOUNT"),
        ("customer:    Account.Name", "customer: account.name"),
    )

    assert result.exit_code == 0, result.text()


def test_relationship_typos_and_relationships_used_as_fields_are_named(tmp_path, env, org):
    org.standard()

    result = run(
        tmp_path,
        ("customer:    Account.Name", "customer:    Acount.Name"),
        ("from: Description, sync", "from: Account, sync"),
    )

    errors = findings(result, "ERROR")
    assert (
        errors["project.fields.customer.from"]
        == "Opportunity has no relationship 'Acount'; did you mean 'Account'?"
    )
    assert errors["project.fields.description.from"] == (
        "Opportunity.Account is a relationship, not a field: "
        "name one of its fields, such as Account.Name"
    )


def test_a_grandparent_costs_one_more_describe_and_each_object_is_described_once(
    tmp_path, env, org
):
    org.standard()
    org.describe(user())

    result = run(tmp_path, ("from: Description, sync", "from: Account.Owner.Email, sync"))

    assert result.exit_code == 0, result.text()
    assert result.api_calls == {"token": 1, "describe": 3}
    assert "parent User" in findings(result, "WARN")["project.fields.description.from"]


def test_a_polymorphic_relationship_is_a_warning_that_it_cannot_be_verified(tmp_path, env, org):
    org.standard()

    result = run(tmp_path, ("from: Description, sync", "from: Partner__r.Name, sync"))

    assert result.exit_code == 0
    assert (
        "polymorphic (Account, Contact)"
        in findings(result, "WARN")["project.fields.description.from"]
    )


def test_formula_fields_are_warned_about(tmp_path, env, org):
    org.standard(opp=opportunity(fld("Margin__c", "currency", calculated=True, updateable=False)))

    result = run(tmp_path, ("from: Amount", "from: Margin__c"))

    assert result.exit_code == 0
    assert "Margin__c, a formula field" in findings(result, "WARN")["project.fields.budget.from"]


def test_write_back_and_back_sync_targets_must_be_updateable(tmp_path, env, org):
    locked = fld("PSA_Project_URL__c", "url", updateable=False)
    formula = fld("PSA_Status__c", "string", updateable=False, calculated=True)
    opp = opportunity()
    opp["fields"] = [
        f for f in opp["fields"] if f["name"] not in ("PSA_Project_URL__c", "PSA_Status__c")
    ]
    opp["fields"] += [locked, formula]
    org.standard(opp=opp)

    result = run(tmp_path)

    errors = findings(result, "ERROR")
    assert set(errors) == {"writeback.PSA_Project_URL__c", "backsync.PSA_Status__c"}
    assert (
        "is not updateable (read-only for the integration user)"
        in errors["writeback.PSA_Project_URL__c"]
    )
    assert "is not updateable (a formula field)" in errors["backsync.PSA_Status__c"]
    assert result.exit_code == 2


def test_a_back_sync_value_of_the_wrong_type_is_a_warning(tmp_path, env, org):
    opp = opportunity()
    for field in opp["fields"]:
        if field["name"] == "PSA_Hours_Spent__c":
            field["type"] = "date"
    org.standard(opp=opp)

    result = run(tmp_path)

    assert result.exit_code == 0
    assert (
        "writes a decimal value into Opportunity.PSA_Hours_Spent__c, a date field"
        in findings(result, "WARN")["backsync.PSA_Hours_Spent__c"]
    )


def test_map_keys_are_checked_against_the_picklist(tmp_path, env, org):
    org.standard(
        opp=opportunity(
            types=["New Customer", "Existing Customer - Upgrade", "Renewal"],
            inactive=("Existing Customer - Downgrade",),
        )
    )

    result = run(tmp_path, ('"Existing Customer - Replacement"', '"existing customer - upgrade"'))

    assert result.exit_code == 0, result.text()
    warn = findings(result, "WARN")
    base = "project.fields.billing_type.map"
    assert (
        "inactive value of the picklist Opportunity.Type"
        in warn[f"{base}.Existing Customer - Downgrade"]
    )
    assert "spells it 'Existing Customer - Upgrade'" in warn[f"{base}.existing customer - upgrade"]
    assert warn[base] == (
        "active values of Opportunity.Type with no entry: 'Renewal'; a deal carrying one is "
        "quarantined (unmapped: error)"
    )


def test_a_map_key_that_is_no_picklist_value_is_a_warning_with_a_suggestion(tmp_path, env, org):
    org.standard()

    result = run(tmp_path, ('"New Customer": "Fixed Fee"', '"New Custmer": "Fixed Fee"'))

    warn = findings(result, "WARN")
    assert warn["project.fields.billing_type.map.New Custmer"] == (
        "'New Custmer' is not a value of the picklist Opportunity.Type; "
        "did you mean 'New Customer'?: this entry never applies"
    )


def test_an_unknown_source_object_is_one_error_and_no_more_describes(tmp_path, env, org):
    org.token()
    org.mock.add(
        responses.GET,
        f"{API}/sobjects/Opportunty/describe",
        status=404,
        json=[{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
    )
    org.redmine()

    result = run(tmp_path, ("object: Opportunity", "object: Opportunty"))

    (error,) = result.errors
    assert error.key == "source.object"
    assert "Salesforce cannot describe Opportunty" in error.message
    assert result.api_calls == {"token": 1, "describe": 1}


def test_a_source_object_without_the_system_fields_cannot_be_read(tmp_path, env, org):
    opp = opportunity()
    opp["fields"] = [f for f in opp["fields"] if f["name"] != "SystemModstamp"]
    org.standard(opp=opp)

    result = run(tmp_path)

    (error,) = result.errors
    assert error.key == "source.object"
    assert "psa-sync selects SystemModstamp on every run" in error.message


def test_a_key_that_is_not_unique_is_a_warning(tmp_path, env, org):
    org.standard(
        opp=opportunity(fld("Deal_Code__c"), fld("Ext_Id__c", externalId=True, unique=True))
    )

    loose = run(tmp_path, ("key: Id", "key: Deal_Code__c"))
    org.standard(
        opp=opportunity(fld("Deal_Code__c"), fld("Ext_Id__c", externalId=True, unique=True))
    )
    strict = run(tmp_path, ("key: Id", "key: Ext_Id__c"))

    assert "neither the Id nor a unique External ID" in findings(loose, "WARN")["key"]
    assert "key" not in findings(strict, "WARN")


def test_criteria_fields_are_verified(tmp_path, env, org):
    org.standard()

    result = run(
        tmp_path, ('criteria: "IsWon = true"', "criteria: \"IsWonn = true AND Account.Type = 'X'\"")
    )

    assert findings(result, "ERROR")["source.criteria"].startswith(
        "Opportunity has no field 'IsWonn'"
    )
    assert "the criteria read Account.Type" in findings(result, "WARN")["source.criteria"]


# --- the PSA --------------------------------------------------------------------------------------


def test_a_project_field_with_no_place_in_the_psa_is_an_error(tmp_path, env, org):
    org.standard()

    result = run(tmp_path, ("    budget:", "    budgett:"))

    (error,) = result.errors
    assert error.key == "project.fields.budgett"
    assert "has no place in the PSA (redmine knows: " in error.message
    assert "did you mean 'budget'?" in error.message


def test_map_values_and_defaults_must_be_values_of_a_psa_list(tmp_path, env, org):
    org.standard()

    result = run(
        tmp_path,
        ('Downgrade": "Retainer"', 'Downgrade": "Retainr"'),
        ("unmapped: error", "unmapped: default\n      default: Hourly"),
    )

    errors = findings(result, "ERROR")
    assert set(errors) == {
        "project.fields.billing_type.map.Existing Customer - Downgrade",
        "project.fields.billing_type.default",
    }
    assert errors["project.fields.billing_type.default"] == (
        "'Hourly' is not a value of the PSA list 'Billing type' "
        "(allowed: Fixed Fee, Time & Materials, Retainer)"
    )
    assert (
        "did you mean 'Retainer'?"
        in errors["project.fields.billing_type.map.Existing Customer - Downgrade"]
    )


def test_values_passing_unmapped_into_a_psa_list_are_a_warning(tmp_path, env, org):
    org.standard()

    result = run(tmp_path, ("unmapped: error", "unmapped: pass"))

    assert result.exit_code == 0
    assert (
        "pass through unmapped to the PSA list 'Billing type'"
        in findings(result, "WARN")["project.fields.billing_type"]
    )


def test_required_psa_fields_need_a_value(tmp_path, env, org):
    org.standard()

    unmapped = run(tmp_path, ("      required: true\n", ""))
    org.standard()
    missing = run(tmp_path, ("billing_type:", "billing_kind:"))

    assert (
        "a record with no Type leaves it empty"
        in findings(unmapped, "WARN")["project.fields.billing_type"]
    )
    assert (
        "the PSA requires 'Billing type' but the mapping has no project field 'billing_type'"
        in findings(missing, "WARN")["project.fields"]
    )
    assert "project.fields.billing_kind" in findings(
        missing, "ERROR"
    )  # and the renamed field has no place


def test_a_psa_field_of_another_type_is_a_warning(tmp_path, env, org):
    org.standard()

    result = run(tmp_path, ("{from: Amount, type: decimal, default: 0}", "{from: Amount}"))

    assert result.exit_code == 0
    assert (
        "the PSA field 'Budget' is decimal, but this rule produces string values"
        in findings(result, "WARN")["project.fields.budget"]
    )


def test_back_sync_of_percent_complete_needs_the_psa_field(tmp_path, env, org):
    org.standard(psa=[f for f in REDMINE_FIELDS if f["name"] != "Percent complete"])

    result = run(tmp_path)

    assert result.exit_code == 0
    assert (
        "no percent_complete field"
        in findings(result, "WARN")["backsync.PSA_Percent_Complete__c.from"]
    )


def test_a_psa_custom_field_named_in_the_config_must_exist(tmp_path, env, org):
    org.standard()

    result = run(tmp_path, options="{custom_fields: {budget: Budgett}}")

    (error,) = result.errors
    assert error.where == "psa" and error.exit_code == 2
    assert "Redmine has no project custom field named 'Budgett'" in error.message


# --- exit codes, output, secrets ------------------------------------------------------------------


def test_refused_credentials_exit_5_and_the_secret_never_shows(tmp_path, env, org):
    org.token(
        status=400,
        body={"error": "invalid_client", "error_description": "invalid client credentials"},
    )
    org.redmine()

    result = run(tmp_path)

    assert result.exit_code == 5
    assert result.errors[0].where == "salesforce"
    output = result.text() + json.dumps(result.to_json())
    assert SECRET not in output and API_KEY not in output


def test_an_unreachable_side_wins_over_field_errors(tmp_path, env, org):
    org.standard()
    org.mock.replace(responses.GET, f"{REDMINE}/custom_fields.json", status=503, body="down")

    result = run(tmp_path, ("from: Amount", "from: Amout"))

    assert {f.where.split(":")[0] for f in result.errors} >= {"psa"}
    assert len(result.errors) == 2
    assert result.exit_code == 3


def test_a_salesforce_outage_during_describe_still_checks_the_psa(tmp_path, env, org):
    org.token()
    org.describe({"name": "Opportunity"}, status=503)
    org.redmine()

    result = run(tmp_path)

    assert result.exit_code == 3
    assert [f.where for f in result.errors] == ["salesforce"]
    assert "psa" in findings(result, "OK")


def test_the_human_report_lists_errors_first_and_ends_with_the_verdict(tmp_path, env, org):
    org.standard()

    result = run(tmp_path, ("from: Amount", "from: Amout"))

    lines = result.text().splitlines()
    assert (
        lines[0].startswith("ERROR  ")
        and "project.fields.budget.from: Opportunity has no field" in lines[0]
    )
    assert [line.split()[0] for line in lines[:-1]] == ["ERROR", "WARN", "WARN", "OK", "OK"]
    assert lines[-1] == "check FAILED: 1 error(s), 2 warning(s); exit 2"


def test_a_type_the_salesforce_field_can_never_parse_to_is_an_error(tmp_path, env, org):
    org.standard(opp=opportunity(fld("Signed_At__c", "datetime")))

    result = run(
        tmp_path,
        ("{from: Amount, type: decimal, default: 0}", "{from: CloseDate, type: decimal}"),
        ("{from: CloseDate, type: date}", "{from: Signed_At__c, type: date}"),
    )

    errors = findings(result, "ERROR")
    assert errors["project.fields.budget.from"] == (
        "Opportunity.CloseDate is a date field, whose values never parse as decimal: "
        "every record with a value would be quarantined; fix `type`"
    )
    assert "`type: date` needs `tz`" in errors["project.fields.start_date.from"]


def test_a_date_from_a_datetime_with_tz_is_fine(tmp_path, env, org):
    org.standard(opp=opportunity(fld("Signed_At__c", "datetime")))

    result = run(
        tmp_path,
        ("{from: CloseDate, type: date}", "{from: Signed_At__c, type: date, tz: Europe/Paris}"),
    )

    assert result.exit_code == 0, result.text()
