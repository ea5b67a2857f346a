"""Bulk API 2.0 query jobs against replayed Salesforce answers: which calls, how many, in order.

Every job call must pass the budget guard and be counted like a REST call, so the tests hold the
exact call sequence (create, polls, result pages, delete) and the client's usage counts together.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
import responses
from responses import matchers

from sync.common.errors import (
    BudgetExceededError,
    ConfigError,
    ProtocolViolation,
    SalesforceUnavailable,
)
from sync.connectors.salesforce.usage import endpoint_of
from tests.unit.connectors.salesforce.canned import ACCESS_2, API, add_token, fixture, limit

JOB = "750R0000000zlh9IAA"
JOB_URL = f"{API}/jobs/query/{JOB}"
SOQL = "SELECT Id, Name, Account.Name, Amount, SystemModstamp FROM Opportunity WHERE IsWon = true"
DESCRIBES = {
    "Opportunity": {
        "fields": [
            {"name": "Id", "type": "id"},
            {"name": "Name", "type": "string"},
            {"name": "Amount", "type": "currency"},
            {"name": "SystemModstamp", "type": "datetime"},
            {
                "name": "AccountId",
                "type": "reference",
                "relationshipName": "Account",
                "referenceTo": ["Account"],
            },
        ]
    },
    "Account": {"fields": [{"name": "Id", "type": "id"}, {"name": "Name", "type": "string"}]},
}
HEADER = "Id,Name,Account.Name,Amount,SystemModstamp\n"


def row(n: int, account: str = "Acme") -> str:
    deal = f'006000000000{n:03d}AAA,"Deal {n}, phase 1"'
    return f"{deal},{account},{n}000.5,2026-03-01T10:00:0{n % 10}.000Z\n"


def add_describes() -> None:
    for sobject, body in DESCRIBES.items():
        responses.add(responses.GET, f"{API}/sobjects/{sobject}/describe", json=body)


def add_create(operation: str = "queryAll") -> None:
    body = {
        "id": JOB,
        "operation": operation,
        "object": "Opportunity",
        "createdById": "005R0000000GiwjIAC",
        "createdDate": "2026-03-02T12:00:08.000+0000",
        "systemModstamp": "2026-03-02T12:00:08.000+0000",
        "state": "UploadComplete",
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": 62.0,
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    responses.add(responses.POST, f"{API}/jobs/query", json=body)


def add_polls(*states: str, error: str | None = None) -> None:
    for state in states:
        body = {
            "id": JOB,
            "operation": "queryAll",
            "object": "Opportunity",
            "state": state,
            "numberRecordsProcessed": 0,
            "retries": 0,
            "totalProcessingTime": 0,
        }
        if state == "Failed":
            body["errorMessage"] = error or "failed"
        responses.add(responses.GET, JOB_URL, json=body)


def add_results(
    body: str, count: int, locator: str, at: str | None = None, max_records: int = 50000
) -> None:
    params = {"maxRecords": str(max_records), **({"locator": at} if at else {})}
    responses.add(
        responses.GET,
        f"{JOB_URL}/results",
        body=body.encode("utf-8"),
        content_type="text/csv",
        match=[matchers.query_param_matcher(params)],
        headers={"Sforce-NumberOfRecords": str(count), "Sforce-Locator": locator, **limit(20)},
    )


def add_delete() -> None:
    responses.add(responses.DELETE, JOB_URL, status=204)


def sent() -> list[str]:
    """The endpoint names of every call made, in order (the token call first)."""
    return [endpoint_of(c.request.method, c.request.path_url) for c in responses.calls]


def test_a_job_is_created_polled_read_page_by_page_and_deleted(client):
    add_describes()
    add_create()
    add_polls("UploadComplete", "InProgress", "JobComplete")
    add_results(HEADER + row(1) + row(2), 2, "MjAwMDA", max_records=2)
    add_results(HEADER + row(3, account=""), 1, "null", at="MjAwMDA", max_records=2)
    add_delete()
    pages = list(client.bulk_query_pages(SOQL, max_records=2))
    assert sent() == [
        "token",
        "describe",
        "describe",
        "bulk2_create",
        "bulk2_poll",
        "bulk2_poll",
        "bulk2_poll",
        "bulk2_results",
        "bulk2_results",
        "bulk2_delete",
    ]
    assert client.usage.calls == Counter(
        {
            "token": 1,
            "describe": 2,
            "bulk2_create": 1,
            "bulk2_poll": 3,
            "bulk2_results": 2,
            "bulk2_delete": 1,
        }
    )
    assert client.usage.org_used == 20
    assert client.slept == [1.0, 2.0, 4.0]  # a growing pause before each poll
    assert json.loads(responses.calls[3].request.body) == {
        "operation": "queryAll",
        "query": SOQL,
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
    }
    assert [[r["Id"] for r in p] for p in pages] == [
        ["006000000000001AAA", "006000000000002AAA"],
        ["006000000000003AAA"],
    ]
    first = pages[0][0]
    assert first == {
        "attributes": {
            "type": "Opportunity",
            "url": "/services/data/v62.0/sobjects/Opportunity/006000000000001AAA",
        },
        "Id": "006000000000001AAA",
        "Name": "Deal 1, phase 1",
        "Account": {"attributes": {"type": "Account"}, "Name": "Acme"},
        "Amount": 1000.5,
        "SystemModstamp": "2026-03-01T10:00:01.000+0000",
    }
    assert pages[1][0]["Account"] is None


def test_without_deleted_records_the_job_is_a_query(client):
    add_describes()
    add_create("query")
    add_polls("JobComplete")
    add_results(HEADER, 0, "null")
    add_delete()
    assert list(client.bulk_query_pages(SOQL, include_deleted=False)) == [[]]
    assert json.loads(responses.calls[3].request.body)["operation"] == "query"


def test_the_null_locator_ends_the_paging_even_on_a_full_page(client):
    add_describes()
    add_create()
    add_polls("JobComplete")
    add_results(HEADER + row(1) + row(2), 2, "null", max_records=2)
    add_delete()
    assert [len(p) for p in client.bulk_query_pages(SOQL, max_records=2)] == [2]
    assert sent().count("bulk2_results") == 1 and sent()[-1] == "bulk2_delete"


@pytest.mark.parametrize(
    "state,said",
    [("Failed", r"failed \(InvalidBatch : Failed to process query\)"), ("Aborted", "was aborted")],
)
def test_a_job_that_fails_or_is_aborted_stops_the_run_naming_the_job_and_is_deleted(
    client, state, said
):
    add_describes()
    add_create()
    add_polls("InProgress", state, error="InvalidBatch : Failed to process query")
    add_delete()
    with pytest.raises(SalesforceUnavailable, match=f"job {JOB} {said}"):
        list(client.bulk_query_pages(SOQL))
    assert sent()[3:] == [
        "bulk2_create",
        "bulk2_poll",
        "bulk2_poll",
        "bulk2_delete",
    ]  # ended: nothing to abort


def test_results_that_answer_412_wait_for_the_job_again(client):
    add_describes()
    add_create()
    add_polls("JobComplete")
    responses.add(
        responses.GET,
        f"{JOB_URL}/results",
        status=412,
        json=fixture("bulk2-job-not-complete-412.json"),
    )
    add_polls("JobComplete")
    add_results(HEADER + row(1), 1, "null")
    add_delete()
    assert [len(p) for p in client.bulk_query_pages(SOQL)] == [1]
    assert sent()[3:] == [
        "bulk2_create",
        "bulk2_poll",
        "bulk2_results",
        "bulk2_poll",
        "bulk2_results",
        "bulk2_delete",
    ]
    assert client.slept == [1.0, 2.0]


def test_a_job_that_runs_too_long_is_aborted_deleted_and_stops_the_run(client):
    client.bulk_max_wait = 7.0
    add_describes()
    add_create()
    add_polls("InProgress")
    responses.add(responses.PATCH, JOB_URL, json={"id": JOB, "state": "Aborted"})
    add_delete()
    with pytest.raises(SalesforceUnavailable, match=f"job {JOB} did not complete within 7 s"):
        list(client.bulk_query_pages(SOQL))
    assert client.slept == [1.0, 2.0, 4.0]  # the next pause (8 s) would pass the 7 s allowed
    assert sent()[3:] == [
        "bulk2_create",
        "bulk2_poll",
        "bulk2_poll",
        "bulk2_poll",
        "bulk2_abort",
        "bulk2_delete",
    ]
    assert json.loads(responses.calls[-2].request.body) == {"state": "Aborted"}


@pytest.mark.parametrize(
    "cap,made",
    [
        (3, ["describe", "describe"]),
        (4, ["describe", "describe", "bulk2_create"]),
        (5, ["describe", "describe", "bulk2_create", "bulk2_poll"]),
    ],
)
def test_the_budget_guard_stops_before_a_bulk_call(client, cap, made):
    client.max_calls_per_run = cap - 1
    add_describes()
    add_create()
    add_polls("JobComplete")
    add_results(HEADER + row(1), 1, "null")
    with pytest.raises(BudgetExceededError, match="max_calls_per_run"):
        list(client.bulk_query_pages(SOQL))
    assert sent() == [
        "token",
        *made,
    ]  # refused before it was sent, and no budget left to delete the job


def test_the_guard_counts_the_orgs_share_from_bulk_answers(client):
    add_describes()
    add_create()
    add_polls("JobComplete")
    add_results(HEADER + row(1), 1, "MTAwMDA")  # Sforce-Limit-Info says 20 of 15000 used
    client.max_org_api_percent = 0.1  # 15 calls allowed: the page's answer used them up
    pages = client.bulk_query_pages(SOQL)
    assert len(next(pages)) == 1
    with pytest.raises(BudgetExceededError, match="max_org_api_percent"):
        next(pages)
    assert sent()[-1] == "bulk2_results"


def test_a_consumer_that_stops_early_still_deletes_the_job(client):
    add_describes()
    add_create()
    add_polls("JobComplete")
    add_results(HEADER + row(1), 1, "MTAwMDA")
    add_delete()
    pages = client.bulk_query_pages(SOQL)
    next(pages)
    pages.close()
    assert sent()[-2:] == ["bulk2_results", "bulk2_delete"]


def test_an_expired_session_during_a_poll_is_renewed_once(client):
    add_describes()
    add_create()
    responses.add(
        responses.GET, JOB_URL, status=401, json=fixture("error-invalid-session-401.json")
    )
    add_token(access=ACCESS_2)
    add_polls("JobComplete")
    add_results(HEADER + row(1), 1, "null")
    add_delete()
    assert [len(p) for p in client.bulk_query_pages(SOQL)] == [1]
    assert sent()[3:] == [
        "bulk2_create",
        "bulk2_poll",
        "token",
        "bulk2_poll",
        "bulk2_results",
        "bulk2_delete",
    ]
    assert responses.calls[-1].request.headers["Authorization"] == f"Bearer {ACCESS_2}"


def test_a_page_that_does_not_parse_into_its_announced_records_stops_the_run(client):
    add_describes()
    add_create()
    add_polls("JobComplete")
    add_results(HEADER + row(1) + row(2), 3, "null")  # 3 announced, 2 sent
    add_delete()
    with pytest.raises(ProtocolViolation, match=f"job {JOB}"):
        list(client.bulk_query_pages(SOQL))
    assert sent()[-1] == "bulk2_delete"


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT COUNT() FROM Opportunity",
        "SELECT Id FROM Opportunity LIMIT 10 OFFSET 5",
        "SELECT StageName, COUNT(Id) FROM Opportunity GROUP BY StageName",
        "SELECT Id, (SELECT Id FROM OpportunityLineItems) FROM Opportunity",
        "SELECT FIELDS(ALL) FROM Opportunity LIMIT 200",
        "SELECT TYPEOF What WHEN Account THEN Name END FROM Event",
    ],
)
def test_what_a_bulk_query_cannot_run_is_refused_before_any_call(client, soql):
    with pytest.raises(ConfigError, match="Bulk API query"):
        next(client.bulk_query_pages(soql))
    assert sent() == ["token"]


def test_a_query_salesforce_refuses_at_create_is_a_config_error(client):
    add_describes()
    responses.add(
        responses.POST,
        f"{API}/jobs/query",
        status=400,
        json=[{"errorCode": "INVALIDJOB", "message": "Aggregate queries are not supported."}],
    )
    with pytest.raises(ConfigError, match="bulk2_create"):
        list(client.bulk_query_pages(SOQL))
    assert sent()[-1] == "bulk2_create"  # no job, nothing to delete


def test_count_is_one_rest_query_returning_total_size(client):
    responses.add(
        responses.GET,
        f"{API}/queryAll/",
        json={"totalSize": 123456, "done": True, "records": []},
        match=[
            matchers.query_param_matcher(
                {"q": "SELECT COUNT() FROM Opportunity WHERE IsWon = true"}
            )
        ],
    )
    assert client.count("Opportunity", "IsWon = true") == 123456
    assert client.usage.calls == Counter({"token": 1, "queryAll": 1})


def test_count_without_deleted_records_or_a_condition(client):
    responses.add(
        responses.GET,
        f"{API}/query/",
        json={"totalSize": 0, "done": True, "records": []},
        match=[matchers.query_param_matcher({"q": "SELECT COUNT() FROM Account"})],
    )
    assert client.count("Account", include_deleted=False) == 0


@pytest.mark.parametrize(
    "method,path,endpoint",
    [
        ("POST", "/services/data/v62.0/jobs/query", "bulk2_create"),
        ("GET", f"/services/data/v62.0/jobs/query/{JOB}", "bulk2_poll"),
        (
            "GET",
            f"/services/data/v62.0/jobs/query/{JOB}/results?maxRecords=5&locator=MTAw",
            "bulk2_results",
        ),
        ("PATCH", f"/services/data/v62.0/jobs/query/{JOB}", "bulk2_abort"),
        ("DELETE", f"/services/data/v62.0/jobs/query/{JOB}", "bulk2_delete"),
        ("GET", "/services/data/v62.0/jobs/query", "bulk2_list"),
        ("PUT", f"/services/data/v62.0/jobs/ingest/{JOB}/batches", "bulk2"),
    ],
)
def test_bulk_calls_are_counted_under_their_endpoint_name(method, path, endpoint):
    assert endpoint_of(method, path) == endpoint


def test_a_results_page_is_handed_on_in_chunks_checked_whole_before_the_first(client, monkeypatch):
    """A page of 50,000 records is never held as 50,000 records: CHUNK_ROWS at a time, in the page's
    order; and a page that announces more rows than it has gives no chunk at all (nothing
    half-committed)."""
    monkeypatch.setattr("sync.connectors.salesforce.bulk_pages.CHUNK_ROWS", 2)
    add_describes()
    add_create()
    add_polls("JobComplete")
    add_results(HEADER + "".join(row(n) for n in range(1, 6)), 5, "MjAwMDA", max_records=5)
    add_results(HEADER + row(6) + row(7), 3, "null", at="MjAwMDA", max_records=5)  # says 3, has 2
    add_delete()
    pages = client.bulk_query_pages(SOQL, max_records=5)
    got = [[r["Id"][-6:-3] for r in next(pages)] for _ in range(3)]
    assert got == [["001", "002"], ["003", "004"], ["005"]]
    with pytest.raises(ProtocolViolation, match=r"\(3 said, 2 read\)"):
        next(pages)
