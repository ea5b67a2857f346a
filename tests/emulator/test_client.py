"""The emulator driven through simple-salesforce 1.12 exactly as production drives Salesforce."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sync.extract.soql import parse_sf_datetime
from tests.fixtures.emulator import sf_client, trusting_session

STAMP_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000\Z")


def _collection(*records, all_or_none=False):
    return {
        "allOrNone": all_or_none,
        "records": [{"attributes": {"type": "Opportunity"}, **record} for record in records],
    }


# ------------------------------------------------------------------------------- queries


def test_query_all_iter_pages_over_5000_rows_with_exact_call_counts(emulator, sf):
    emulator.seed(5500, seed=1)
    rows = list(sf.query_all_iter("SELECT Id, Name FROM Opportunity ORDER BY SystemModstamp, Id"))
    assert len(rows) == 5500
    assert len({row["Id"] for row in rows}) == 5500
    assert emulator.calls["query"] == 1 and emulator.calls["queryMore"] == 2


def test_first_page_reports_the_whole_total_and_a_relative_next_url(emulator, sf):
    emulator.seed(2500, seed=2)
    page = sf.query("SELECT Id FROM Opportunity")
    assert page["totalSize"] == 2500 and page["done"] is False and len(page["records"]) == 2000
    assert re.fullmatch(r"/services/data/v62\.0/query/01g\w{15}-2000", page["nextRecordsUrl"])
    rest = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    assert rest["done"] is True and "nextRecordsUrl" not in rest and len(rest["records"]) == 500


def test_batch_size_header_is_honoured_and_clamped(emulator, sf):
    emulator.seed(450, seed=3)
    rows = list(
        sf.query_all_iter(
            "SELECT Id FROM Opportunity", headers={"Sforce-Query-Options": "batchSize=50"}
        )
    )
    assert len(rows) == 450
    assert emulator.calls["queryMore"] == 2  # 50 is below the minimum: pages of 200


def test_short_pages_fault_cuts_pages(emulator, sf):
    emulator.seed(30, seed=4)
    emulator.faults.short_pages(7)
    assert len(list(sf.query_all_iter("SELECT Id FROM Opportunity"))) == 30
    assert emulator.calls["queryMore"] == 4


def test_cursor_is_a_snapshot(emulator, sf):
    emulator.seed(2100, seed=5)
    page = sf.query("SELECT Id FROM Opportunity ORDER BY Id")
    first_ids = [r["Id"] for r in page["records"]]
    emulator.delete(first_ids[0])
    emulator.create("Opportunity", Name="late", StageName="Prospecting", CloseDate="2024-01-01")
    rest = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    assert len(rest["records"]) == 100 and rest["totalSize"] == 2100


def test_query_all_returns_deleted_rows_and_query_does_not(emulator, sf):
    book = emulator.seed_demo()
    gone = book["won"][0]
    emulator.delete(gone)
    live = {r["Id"] for r in sf.query_all("SELECT Id FROM Opportunity")["records"]}
    every = sf.query_all("SELECT Id, IsDeleted FROM Opportunity", include_deleted=True)["records"]
    assert gone not in live
    assert {r["Id"]: r["IsDeleted"] for r in every}[gone] is True
    assert emulator.calls["queryAll"] == 1
    emulator.undelete(gone)
    assert gone in {r["Id"] for r in sf.query_all("SELECT Id FROM Opportunity")["records"]}


def test_parent_fields_and_null_lookups(emulator, sf):
    emulator.seed_demo()
    rows = sf.query_all("SELECT Name, Account.Name, Owner.Email FROM Opportunity ORDER BY Name")[
        "records"
    ]
    orphan = next(r for r in rows if r["Name"].startswith("Inbound Web Lead"))
    assert orphan["Account"] is None
    acme = next(r for r in rows if r["Name"] == "ERP Rollout Phase 1")
    assert acme["Account"]["Name"] == "Acme Corporation"
    assert acme["Account"]["attributes"]["type"] == "Account"
    assert re.fullmatch(
        r"/services/data/v62\.0/sobjects/Account/001\w{15}", acme["Account"]["attributes"]["url"]
    )
    assert acme["Owner"]["Email"] == "integration@psa-sync.example"
    assert list(acme) == ["attributes", "Name", "Account", "Owner"]


def test_values_are_serialised_as_real_ones(emulator, sf):
    emulator.seed_demo()
    row = sf.query(
        "SELECT Id, Amount, CloseDate, IsWon, IsClosed, Probability, SystemModstamp, "
        "PSA_Hours_Spent__c FROM Opportunity WHERE StageName = 'Closed Won' LIMIT 1"
    )["records"][0]
    assert len(row["Id"]) == 18 and row["Id"].startswith("006")
    assert isinstance(row["Amount"], float) and row["IsWon"] is True and row["IsClosed"] is True
    assert row["Probability"] == 100 and row["PSA_Hours_Spent__c"] is None
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["CloseDate"])
    assert STAMP_FORMAT.match(row["SystemModstamp"])


def test_count_query(emulator, sf):
    emulator.seed(120, seed=6, won_ratio=0.5)
    body = sf.query("SELECT COUNT() FROM Opportunity WHERE IsWon = true")
    assert body["records"] == [] and body["done"] is True
    assert 30 < body["totalSize"] < 90


def test_names_ignore_case_and_come_back_canonical(emulator, sf):
    emulator.seed_demo()
    row = sf.query("select id, NAME, account.name from OPPORTUNITY where isWon = TRUE limit 1")[
        "records"
    ][0]
    assert set(row) == {"attributes", "Id", "Name", "Account"}


def test_trailing_slash_and_no_trailing_slash_both_work(emulator):
    session = trusting_session(emulator)
    headers = {"Authorization": f"Bearer {emulator.issue_token()}"}
    for path in ("query", "query/", "queryAll", "queryAll/"):
        answer = session.get(
            f"{emulator.url}/services/data/v62.0/{path}",
            params={"q": "SELECT Id FROM User"},
            headers=headers,
        )
        assert answer.status_code == 200 and answer.json()["totalSize"] == 1


def test_query_errors_map_to_simple_salesforce_exceptions(emulator, sf):
    with pytest.raises(SalesforceMalformedRequest) as malformed:
        sf.query("SELECT Id FROM Opportunity WHERE")
    assert malformed.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as field:
        sf.query("SELECT Id, Bogus__c FROM Opportunity")
    body = field.value.content[0]
    assert body["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Bogus__c' on entity 'Opportunity'" in body["message"]
    assert "ERROR at Row:1:Column:12" in body["message"]
    with pytest.raises(SalesforceMalformedRequest) as kind:
        sf.query("SELECT Id FROM Opportunityy")
    assert kind.value.content[0]["errorCode"] == "INVALID_TYPE"
    with pytest.raises(SalesforceMalformedRequest) as typed:
        sf.query("SELECT Id FROM Opportunity WHERE CloseDate > 2024-01-01T00:00:00Z")
    assert "must be of type date" in typed.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as locator:
        sf.query_more("/services/data/v62.0/query/01gAAAAAAAAAAAAAAA-2000", identifier_is_url=True)
    assert locator.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


# ---------------------------------------------------------------- sessions and budget


def test_expired_session_raises_expired_session(emulator, sf):
    sf.query("SELECT Id FROM User")
    emulator.expire_sessions()
    with pytest.raises(SalesforceExpiredSession) as info:
        sf.query("SELECT Id FROM User")
    assert info.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_spent_budget_raises_refused_request(emulator, sf):
    emulator.set_budget(used=14999, max=15000)
    sf.query("SELECT Id FROM User")
    assert sf.api_usage["api-usage"].used == 15000
    with pytest.raises(SalesforceRefusedRequest) as info:
        sf.query("SELECT Id FROM User")
    assert info.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_api_usage_is_filled_from_limit_info_and_counts_every_data_call(emulator, sf):
    sf.query("SELECT Id FROM User")
    sf.limits()
    sf.query("SELECT Id FROM User")
    assert sf.api_usage["api-usage"].used == 3 and sf.api_usage["api-usage"].total == 15000
    assert sf.api_usage["per-app-api-usage"].name == "psa-sync"
    assert emulator.api_used == 3


def test_limits_report_daily_api_requests(emulator, sf):
    emulator.set_budget(used=100)
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 15000, "Remaining": 14899}


def test_responses_carry_a_date_header_and_token_calls_no_limit_info(emulator):
    session = trusting_session(emulator)
    data = session.get(
        f"{emulator.url}/services/data/v62.0/limits",
        headers={"Authorization": f"Bearer {emulator.issue_token()}"},
    )
    token = session.post(
        emulator.token_url,
        data={"grant_type": "client_credentials"},
        auth=(emulator.client_id, emulator.client_secret),
    )
    for answer in (data, token):
        assert re.fullmatch(
            r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT", answer.headers["Date"]
        )
    assert "Sforce-Limit-Info" in data.headers and "Sforce-Limit-Info" not in token.headers
    assert emulator.api_used == 1


# ---------------------------------------------------------------------------- writes


def test_collection_with_a_partial_failure(emulator, sf):
    book = emulator.seed_demo()
    good, deleted, locked, invalid = book["won"][:4]
    emulator.delete(deleted)
    emulator.faults.lock_rows([locked])
    emulator.faults.validation_failure([invalid], "Close Date cannot be in the past")
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json=_collection(
            {"id": good, "PSA_Project_Id__c": "42"},
            {"id": deleted, "PSA_Project_Id__c": "43"},
            {"id": locked, "PSA_Project_Id__c": "44"},
            {"id": invalid, "PSA_Project_Id__c": "45"},
            {"id": good[:15], "IsWon": False},
            {"id": "006000000000000AAA", "PSA_Status__c": "x"},
            {"id": "001000000000000AAA", "PSA_Status__c": "x"},
            {"id": good, "Bogus__c": 1},
        ),
    )
    assert results[0] == {"id": good, "success": True, "errors": []}
    codes = [r["errors"][0]["statusCode"] if r["errors"] else None for r in results]
    assert codes == [
        None,
        "ENTITY_IS_DELETED",
        "UNABLE_TO_LOCK_ROW",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "INVALID_CROSS_REFERENCE_KEY",
        "MALFORMED_ID",
        "INVALID_FIELD",
    ]
    assert results[3]["errors"][0]["message"] == "Close Date cannot be in the past"
    assert emulator.get("Opportunity", good)["PSA_Project_Id__c"] == "42"
    assert emulator.get("Opportunity", locked)["PSA_Project_Id__c"] is None
    assert emulator.call_log[-1]["body"]["records"][0]["PSA_Project_Id__c"] == "42"


def test_all_or_none_rolls_everything_back(emulator, sf):
    book = emulator.seed_demo()
    first, second = book["won"][:2]
    emulator.faults.validation_failure([second])
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json=_collection(
            {"id": first, "PSA_Status__c": "New"},
            {"id": second, "PSA_Status__c": "New"},
            all_or_none=True,
        ),
    )
    assert [r["errors"][0]["statusCode"] for r in results] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
    ]
    assert emulator.get("Opportunity", first)["PSA_Status__c"] is None


def test_collections_over_200_records_are_refused(emulator, sf):
    book = emulator.seed_demo()
    records = [{"id": book["won"][0], "PSA_Status__c": "x"}] * 201
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("composite/sobjects", method="PATCH", json=_collection(*records))
    assert info.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_api_writes_move_system_modstamp_forward(emulator, sf):
    book = emulator.seed_demo()
    deal = book["won"][0]
    before = emulator.get("Opportunity", deal)
    assert sf.Opportunity.update(deal, {"PSA_Status__c": "In progress"}) == 204
    after_patch = emulator.get("Opportunity", deal)
    sf.restful(
        "composite/sobjects",
        method="PATCH",
        json=_collection({"id": deal, "PSA_Status__c": "Done"}),
    )
    after_collection = emulator.get("Opportunity", deal)
    stamps = [
        parse_sf_datetime(r["SystemModstamp"]) for r in (before, after_patch, after_collection)
    ]
    assert stamps[0] < stamps[1] < stamps[2]
    assert after_collection["LastModifiedDate"] == after_collection["SystemModstamp"]


def test_record_get_patch_and_errors(emulator, sf):
    book = emulator.seed_demo()
    deal = book["won"][0]
    record = sf.Opportunity.get(deal[:15])
    assert record["Id"] == deal and record["attributes"]["type"] == "Opportunity"
    assert record["StageName"] == "Closed Won" and record["End_Date__c"] is not None
    with pytest.raises(SalesforceMalformedRequest) as readonly:
        sf.Opportunity.update(deal, {"IsWon": False})
    assert readonly.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    emulator.faults.lock_rows([deal], times=1)
    with pytest.raises(SalesforceMalformedRequest) as locked:
        sf.Opportunity.update(deal, {"PSA_Status__c": "x"})
    assert locked.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    assert sf.Opportunity.update(deal, {"PSA_Status__c": "x"}) == 204  # the lock was released
    with pytest.raises(SalesforceResourceNotFound):
        sf.Opportunity.get("006000000000000AAA")
    emulator.delete(deal)
    with pytest.raises(SalesforceResourceNotFound) as gone:
        sf.Opportunity.get(deal)
    assert gone.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_stage_drives_derived_fields(emulator, sf):
    deal = emulator.create("Opportunity", Name="x", StageName="Prospecting", CloseDate="2024-01-01")
    sf.Opportunity.update(deal, {"StageName": "Closed Won"})
    record = emulator.get("Opportunity", deal)
    assert (record["IsWon"], record["IsClosed"], record["Probability"]) == (True, True, 100)
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf.Opportunity.update(deal, {"StageName": "Won-ish"})
    assert bad.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_describe_reports_types_picklists_and_custom_fields(emulator, sf):
    describe = sf.Opportunity.describe()
    fields = {f["name"]: f for f in describe["fields"]}
    assert describe["name"] == "Opportunity" and describe["keyPrefix"] == "006"
    assert (
        fields["PSA_Project_Id__c"]["custom"] is True
        and fields["PSA_Project_Id__c"]["length"] == 255
    )
    assert fields["PSA_Status__c"]["length"] == 40
    assert (
        fields["PSA_Hours_Spent__c"]["precision"] == 16
        and fields["PSA_Hours_Spent__c"]["scale"] == 2
    )
    assert fields["IsWon"]["updateable"] is False
    assert (
        fields["AccountId"]["referenceTo"] == ["Account"]
        and fields["AccountId"]["relationshipName"] == "Account"
    )
    stages = [p["value"] for p in fields["StageName"]["picklistValues"]]
    assert stages[0] == "Prospecting" and "Closed Won" in stages and len(stages) == 10
    assert set(fields["Type"]["picklistValues"][0]) == {
        "value",
        "label",
        "active",
        "defaultValue",
        "validFor",
    }


def test_registered_fields_and_objects_are_usable(emulator, sf):
    emulator.register_field(
        "Opportunity", "Billing_Type__c", "picklist", picklist=["Fixed Fee", "T&M"]
    )
    emulator.register_object("Project_Request__c")
    deal = emulator.create(
        "Opportunity",
        Name="x",
        StageName="Closed Won",
        CloseDate="2024-01-01",
        Billing_Type__c="Fixed Fee",
    )
    request = emulator.create("Project_Request__c", Name="req")
    assert (
        sf.query(f"SELECT Billing_Type__c FROM Opportunity WHERE Id = '{deal}'")["records"][0][
            "Billing_Type__c"
        ]
        == "Fixed Fee"
    )
    assert (
        request.startswith("a")
        and sf.query("SELECT Name FROM Project_Request__c")["totalSize"] == 1
    )


def test_clone_copies_custom_fields_into_a_new_record(emulator):
    book = emulator.seed_demo()
    deal = book["won"][0]
    emulator.update("Opportunity", deal, PSA_Project_Id__c="17")
    copy = emulator.clone("Opportunity", deal)
    assert copy != deal and emulator.get("Opportunity", copy)["PSA_Project_Id__c"] == "17"


def test_late_commit_rows_appear_with_their_old_stamp(emulator, sf):
    early = datetime.now(UTC) - timedelta(minutes=5)
    held = emulator.create(
        "Opportunity",
        Name="late",
        StageName="Closed Won",
        CloseDate="2024-01-01",
        _hidden=True,
        _stamp=early,
    )
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 0
    emulator.release([held])
    row = sf.query("SELECT SystemModstamp FROM Opportunity")["records"][0]
    assert parse_sf_datetime(row["SystemModstamp"]) == early.replace(
        microsecond=early.microsecond // 1000 * 1000
    )


def test_get_updated_and_deleted(emulator, sf):
    book = emulator.seed_demo()
    emulator.delete(book["won"][0])
    start, end = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(minutes=2)
    updated = sf.Opportunity.updated(start, end)
    deleted = sf.Opportunity.deleted(start, end)
    assert book["won"][1] in updated["ids"] and book["won"][0] not in updated["ids"]
    assert [d["id"] for d in deleted["deletedRecords"]] == [book["won"][0]]
    assert STAMP_FORMAT.match(deleted["latestDateCovered"])


# ---------------------------------------------------------------------------- faults


def test_injected_5xx_and_reset_hit_only_the_matching_endpoint(emulator, sf):
    emulator.faults.fail_next(1, status=503, endpoint="query")
    sf.limits()
    with pytest.raises(SalesforceGeneralError) as info:
        sf.query("SELECT Id FROM User")
    assert info.value.status == 503
    emulator.faults.reset_next(1)
    with pytest.raises(requests.exceptions.ConnectionError):
        sf.query("SELECT Id FROM User")
    assert sf.query("SELECT Id FROM User")["totalSize"] == 1
    assert emulator.calls["query"] == 3 and [e["status"] for e in emulator.call_log] == [
        200,
        503,
        "reset",
        200,
    ]


def test_random_failures_are_reproducible(emulator, sf):
    def run():
        emulator.faults.clear()
        emulator.faults.fail_rate(0.5, seed=7)
        outcomes = []
        for _ in range(20):
            try:
                sf.query("SELECT Id FROM User")
                outcomes.append(True)
            except SalesforceGeneralError:
                outcomes.append(False)
        return outcomes

    first = run()
    assert first == run() and 0 < first.count(False) < 20


def test_slow_responses_delay_the_answer(emulator, sf):
    emulator.faults.slow(0.3, endpoint="limits", n=1)
    started = datetime.now(UTC)
    sf.limits()
    assert datetime.now(UTC) - started >= timedelta(seconds=0.3)


def test_control_api_over_http(emulator):
    session = trusting_session(emulator)
    admin = {"Authorization": f"Bearer {emulator.admin_token}"}
    base = f"{emulator.url}/__emulator"
    assert session.post(f"{base}/seed", json={"n": 10, "seed": 1}).status_code == 401
    assert session.post(f"{base}/seed", json={"n": 10, "seed": 1}, headers=admin).json() == {
        "result": 10
    }
    made = session.post(
        f"{base}/create",
        headers=admin,
        json={
            "obj": "Opportunity",
            "Name": "via http",
            "StageName": "Closed Won",
            "CloseDate": "2024-02-01",
        },
    ).json()
    assert emulator.get("Opportunity", made["result"])["Name"] == "via http"
    session.post(f"{base}/fault", headers=admin, json={"kind": "fail_next", "status": 500})
    sf = sf_client(emulator)
    with pytest.raises(SalesforceGeneralError):
        sf.query("SELECT Id FROM User")
    assert session.post(f"{base}/calls_snapshot", headers=admin).json() == {"result": {"query": 1}}
    bad = session.post(f"{base}/create", headers=admin, json={"obj": "Opportunity", "Nope__c": 1})
    assert bad.status_code == 400 and bad.json()["error"] == "INVALID_FIELD"


def test_two_emulators_are_two_orgs(emulator):
    from sync.emulator import Emulator

    with Emulator(org_id="00D000000000001") as other:
        assert other.org_id == "00D000000000001EAA" and other.org_id != emulator.org_id
        mine = emulator.create("Account", Name="a")
        theirs = other.create("Account", Name="a")
        assert mine != theirs and mine[3:9] != theirs[3:9]
