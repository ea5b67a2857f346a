"""One Salesforce call: query paging, error translation, re-authentication and lock retries."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import requests
import responses

from sync.common.errors import AuthError, BudgetExceededError, ConfigError, SalesforceUnavailable
from tests.unit.connectors.salesforce.canned import (
    ACCESS,
    ACCESS_2,
    API,
    HOST,
    add_token,
    error_body,
    fixture,
    limit,
    opp,
    page,
)

# --- paging ---------------------------------------------------------------------------------------


def test_pages_are_streamed_over_queryall_then_next_records_url(client):
    next_path = "/services/data/v62.0/queryAll/01gRO0000016PIAYA2-2"
    responses.add(
        responses.GET, f"{API}/queryAll/", json=page([opp(1), opp(2)], next_path), headers=limit(10)
    )
    responses.add(responses.GET, f"{HOST}{next_path}", json=page([opp(3)]), headers=limit(11))
    pages = client.query_pages("SELECT Id FROM Opportunity", batch_size=500)
    first = next(pages)
    assert [r["Id"] for r in first] == [opp(1)["Id"], opp(2)["Id"]]
    assert len(responses.calls) == 2  # the token and one page: the next page waits for the consumer
    assert [[r["Id"] for r in p] for p in pages] == [[opp(3)["Id"]]]
    assert first[0]["attributes"]["type"] == "Opportunity" and first[0]["Account"] is None
    data_calls = responses.calls[1:]
    assert parse_qs(data_calls[0].request.url.split("?", 1)[1]) == {
        "q": ["SELECT Id FROM Opportunity"]
    }
    assert all(c.request.headers["Sforce-Query-Options"] == "batchSize=500" for c in data_calls)
    assert all(c.request.headers["Authorization"] == f"Bearer {ACCESS}" for c in data_calls)
    assert client.usage.calls == {"token": 1, "queryAll": 1, "queryMore": 1}
    assert (client.usage.total, client.usage.org_used, client.usage.org_max) == (2, 11, 15000)


def test_include_deleted_false_uses_query(client):
    responses.add(responses.GET, f"{API}/query/", json=page([]))
    assert list(client.query_pages("SELECT Id FROM Opportunity", include_deleted=False)) == [[]]


def test_a_page_that_is_not_done_without_a_next_url_stops_the_run(client):
    body = page([opp(1)])
    body["done"] = False
    responses.add(responses.GET, f"{API}/queryAll/", json=body)
    pages = client.query_pages("SELECT Id FROM Opportunity")
    next(pages)
    with pytest.raises(SalesforceUnavailable, match="nextRecordsUrl"):
        next(pages)


@pytest.mark.parametrize("size", [199, 2001])
def test_batch_size_outside_salesforce_bounds_is_refused(client, size):
    with pytest.raises(ValueError, match="batch_size"):
        next(client.query_pages("SELECT Id FROM Opportunity", batch_size=size))


# --- error translation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status,body,expected",
    [
        (403, fixture("error-request-limit-403.json"), BudgetExceededError),
        (403, error_body("INSUFFICIENT_ACCESS", "no access"), AuthError),
        (403, error_body("API_DISABLED_FOR_ORG", "API is not enabled"), AuthError),
        (401, error_body("INVALID_AUTH_HEADER"), AuthError),
        (400, fixture("error-invalid-field-400.json"), ConfigError),
        (400, fixture("error-malformed-query-400.json"), ConfigError),
        (400, error_body("INVALID_TYPE", "sObject type 'Opp' is not supported."), ConfigError),
        (
            400,
            error_body("QUERY_TIMEOUT", "Your query request was running for too long."),
            SalesforceUnavailable,
        ),
        (400, error_body("INVALID_QUERY_LOCATOR", "invalid query locator"), SalesforceUnavailable),
        (500, error_body("UNKNOWN_EXCEPTION"), SalesforceUnavailable),
        (503, "Service Unavailable", SalesforceUnavailable),
        (502, "<html>bad gateway</html>", SalesforceUnavailable),
    ],
)
def test_error_translation_table(client, status, body, expected):
    kwargs = {"json": body} if not isinstance(body, str) else {"body": body}
    responses.add(responses.GET, f"{API}/queryAll/", status=status, **kwargs)
    with pytest.raises(expected):
        next(client.query_pages("SELECT Id FROM Opportunity"))


def test_invalid_field_names_the_field_and_says_to_fix_the_mapping(client):
    responses.add(
        responses.GET, f"{API}/queryAll/", status=400, json=fixture("error-invalid-field-400.json")
    )
    with pytest.raises(ConfigError) as caught:
        next(client.query_pages("SELECT Id, SF_date__c FROM Lead"))
    text = str(caught.value)
    assert "SF_date__c" in text and "Lead" in text and "mapping" in text
    assert "select Id, Company" not in text  # the echoed query stays out
    assert caught.value.exit_code == 2


def test_malformed_query_quotes_salesforce(client):
    responses.add(
        responses.GET,
        f"{API}/queryAll/",
        status=400,
        json=fixture("error-malformed-query-400.json"),
    )
    with pytest.raises(ConfigError, match="unexpected token: q"):
        next(client.query_pages("SELECT"))


def test_request_limit_exceeded_says_the_run_resumes(client):
    responses.add(
        responses.GET, f"{API}/queryAll/", status=403, json=fixture("error-request-limit-403.json")
    )
    with pytest.raises(BudgetExceededError) as caught:
        next(client.query_pages("SELECT Id FROM Opportunity"))
    assert "daily API limit is spent" in str(caught.value) and caught.value.exit_code == 4


@pytest.mark.parametrize(
    "failure", [requests.ConnectionError("reset"), requests.ReadTimeout("slow")]
)
def test_connection_failures_after_retries_are_salesforce_unavailable(client, failure):
    responses.add(responses.GET, f"{API}/queryAll/", body=failure)
    with pytest.raises(SalesforceUnavailable):
        next(client.query_pages("SELECT Id FROM Opportunity"))


def test_a_200_that_is_not_json_is_salesforce_unavailable(client):
    responses.add(responses.GET, f"{API}/queryAll/", body="<html>maintenance</html>")
    with pytest.raises(SalesforceUnavailable, match="not JSON"):
        next(client.query_pages("SELECT Id FROM Opportunity"))


# --- re-authentication ----------------------------------------------------------------------------


def test_an_expired_session_is_renewed_once_and_the_call_retried(client):
    expired = fixture("error-invalid-session-401.json")
    responses.add(responses.GET, f"{API}/queryAll/", status=401, json=expired)
    add_token(access=ACCESS_2)
    responses.add(responses.GET, f"{API}/queryAll/", json=page([opp(1)]))
    assert list(client.query_pages("SELECT Id FROM Opportunity")) == [[opp(1)]]
    assert client.usage.calls == {"token": 2, "queryAll": 2}
    assert responses.calls[-1].request.headers["Authorization"] == f"Bearer {ACCESS_2}"


def test_a_second_invalid_session_is_an_auth_error(client):
    expired = fixture("error-invalid-session-401.json")
    responses.add(responses.GET, f"{API}/queryAll/", status=401, json=expired)
    add_token(access=ACCESS_2)
    with pytest.raises(AuthError, match="after re-authenticating"):
        next(client.query_pages("SELECT Id FROM Opportunity"))
    assert client.usage.calls == {"token": 2, "queryAll": 2}


def test_a_query_cursor_lost_with_its_session_stops_the_run_as_transient(client):
    next_path = "/services/data/v62.0/queryAll/01gRO0000016PIAYA2-2"
    responses.add(responses.GET, f"{API}/queryAll/", json=page([opp(1)], next_path))
    responses.add(
        responses.GET,
        f"{HOST}{next_path}",
        status=401,
        json=fixture("error-invalid-session-401.json"),
    )
    add_token(access=ACCESS_2)
    pages = client.query_pages("SELECT Id FROM Opportunity")
    next(pages)
    with pytest.raises(SalesforceUnavailable, match="cursor"):
        next(pages)


# --- lock retries ---------------------------------------------------------------------------------


def test_a_top_level_lock_error_is_retried_with_growing_jittered_backoff(client):
    lock = fixture("error-unable-to-lock-row.json")
    responses.add(responses.PATCH, f"{API}/composite/sobjects", status=400, json=lock)
    responses.add(responses.PATCH, f"{API}/composite/sobjects", status=400, json=lock)
    responses.add(
        responses.PATCH,
        f"{API}/composite/sobjects",
        json=[{"id": "x", "success": True, "errors": []}],
    )
    results = client.update("Opportunity", [{"Id": opp(1)["Id"], "PSA_Project_Id__c": "7"}])
    assert results[0].success
    assert len(client.slept) == 2
    assert 0.5 <= client.slept[0] <= 1.0 and 1.0 <= client.slept[1] <= 2.0


def test_a_lock_that_never_clears_is_salesforce_unavailable(client):
    lock = fixture("error-unable-to-lock-row.json")
    responses.add(responses.PATCH, f"{API}/composite/sobjects", status=400, json=lock)
    with pytest.raises(SalesforceUnavailable, match="UNABLE_TO_LOCK_ROW"):
        client.update("Opportunity", [{"Id": opp(1)["Id"], "PSA_Project_Id__c": "7"}])
    assert client.usage.calls["composite"] == 4 and len(client.slept) == 3
