"""sObject Collections updates and describe, against `responses`."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import responses

from sync.common.errors import ConfigError, SalesforceUnavailable
from sync.connectors.salesforce.errors import TRANSIENT_CODES
from sync.connectors.salesforce.sobject_collections import SaveResult
from tests.unit.connectors.salesforce.canned import API, error_body, fixture, opp

# --- collections ----------------------------------------------------------------------------------


def test_partial_failure_returns_one_result_per_record_in_order(client):
    responses.add(
        responses.PATCH,
        f"{API}/composite/sobjects",
        json=fixture("collections-update-partial-failure.json"),
    )
    ids = [opp(n)["Id"] for n in (1, 2, 3)]
    results = client.update("Opportunity", [{"Id": i, "PSA_Project_Id__c": "9"} for i in ids])
    assert [r.id for r in results] == ids
    assert [r.success for r in results] == [True, False, False]
    assert results[1].errors[0].status_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert results[1].errors[0].message == "Close Date cannot be in the past"
    assert results[2].errors[0].status_code == "ENTITY_IS_DELETED"
    assert not any(r.transient for r in results)


def test_per_record_lock_errors_are_transient_and_validation_errors_are_not():
    from sync.connectors.salesforce.sobject_collections import SaveError

    locked = SaveResult("a", False, (SaveError("UNABLE_TO_LOCK_ROW", "busy", ()),))
    invalid = SaveResult("b", False, (SaveError("FIELD_CUSTOM_VALIDATION_EXCEPTION", "no", ()),))
    assert locked.transient and not invalid.transient
    assert not SaveResult("c", True, ()).transient
    assert {
        "UNABLE_TO_LOCK_ROW",
        "SERVER_UNAVAILABLE",
        "REQUEST_RUNNING_TOO_LONG",
    } <= TRANSIENT_CODES


def test_updates_go_200_a_call_with_type_attributes_and_exact_values(client):
    def answer(request):
        records = json.loads(request.body)["records"]
        return (
            200,
            {},
            json.dumps([{"id": r["id"], "success": True, "errors": []} for r in records]),
        )

    responses.add_callback(responses.PATCH, f"{API}/composite/sobjects", callback=answer)
    records = [
        {
            "Id": f"006{n:015d}",
            "PSA_Hours_Spent__c": Decimal("12345678901234.56"),
            "PSA_Start__c": date(2026, 3, 1),
            "PSA_Seen__c": datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
            "PSA_Project_Id__c": "42",
            "PSA_Note__c": None,
        }
        for n in range(450)
    ]
    results = client.update("Opportunity", records)
    assert len(results) == 450 and all(r.success for r in results)
    bodies = [c.request.body for c in responses.calls[1:]]
    assert [len(json.loads(b)["records"]) for b in bodies] == [200, 200, 50]
    first = json.loads(bodies[0])
    assert first["allOrNone"] is False
    assert first["records"][0] == {
        "attributes": {"type": "Opportunity"},
        "id": "006000000000000000",
        "PSA_Hours_Spent__c": 12345678901234.56,
        "PSA_Start__c": "2026-03-01",
        "PSA_Seen__c": "2026-03-01T09:30:00.000Z",
        "PSA_Project_Id__c": "42",
        "PSA_Note__c": None,
    }
    assert '"PSA_Hours_Spent__c": 12345678901234.56,' in bodies[0]  # a JSON number, digit for digit
    assert client.usage.calls["composite"] == 3


def test_no_records_means_no_call(client):
    assert client.update("Opportunity", []) == []
    assert client.usage.total == 0


def test_a_result_count_that_does_not_match_is_salesforce_unavailable(client):
    responses.add(
        responses.PATCH,
        f"{API}/composite/sobjects",
        json=[{"id": "x", "success": True, "errors": []}],
    )
    with pytest.raises(SalesforceUnavailable, match="2 records with 1 results"):
        client.update("Opportunity", [{"Id": "006000000000001AAA"}, {"Id": "006000000000002AAA"}])


@pytest.mark.parametrize(
    "record,problem",
    [
        ({"PSA_Project_Id__c": "1"}, ValueError),
        ({"Id": "006000000000001AAA", "When__c": datetime(2026, 1, 1)}, ValueError),
        ({"Id": "006000000000001AAA", "Blob__c": object()}, TypeError),
        ({"Id": "006000000000001AAA", "N__c": Decimal("NaN")}, ValueError),
    ],
)
def test_records_that_cannot_be_sent_are_refused_before_any_call(client, record, problem):
    with pytest.raises(problem):
        client.update("Opportunity", [record])
    assert client.usage.total == 0


def test_a_bad_object_name_never_reaches_a_url(client):
    with pytest.raises(ConfigError):
        client.update("Opportunity/../../x", [{"Id": "006000000000001AAA"}])


# --- describe -------------------------------------------------------------------------------------


def test_describe_returns_the_object_description(client):
    responses.add(
        responses.GET,
        f"{API}/sobjects/Opportunity/describe",
        json={"name": "Opportunity", "fields": [{"name": "Id"}]},
    )
    assert client.describe("Opportunity")["name"] == "Opportunity"
    assert client.usage.calls["describe"] == 1


def test_describe_of_an_unknown_object_is_a_config_error(client):
    responses.add(
        responses.GET,
        f"{API}/sobjects/Nope__c/describe",
        status=404,
        json=error_body("NOT_FOUND", "The requested resource does not exist"),
    )
    with pytest.raises(ConfigError, match="not found"):
        client.describe("Nope__c")
