"""Answers Salesforce should never give: a proxy's page with 200, a page cut in the middle, a page
without ``records``, collection results that are not objects. Each stops the run as "Salesforce
unavailable" (exit 3) naming the endpoint and what came back, never a traceback, and never a page
read as empty: nothing after the last committed page is taken for done."""

from __future__ import annotations

import pytest
import responses

from sync.common.errors import SalesforceUnavailable
from tests.fixtures.stops import stops_the_run
from tests.unit.connectors.salesforce.canned import ACCESS, API, HOST, opp, page

SOQL = "SELECT Id FROM Opportunity WHERE Secret_Code__c = 'hush-hush'"
PROXY_PAGE = "<html><head><title>Web filter: access denied</title></head><body>" + "y" * 4000
NEXT = "/services/data/v62.0/queryAll/01gRO0000016PIAYA2-2000"


def unavailable(call) -> str:
    text = stops_the_run(SalesforceUnavailable, call, never=("hush-hush", "q=", ACCESS))
    assert "resumes from its last committed page" in text
    return text


def first_page(client):
    return next(client.query_pages(SOQL))


@pytest.mark.parametrize(
    "answer, said",
    [
        ({"body": PROXY_PAGE, "content_type": "text/html"}, "is not JSON"),
        (
            {"body": '{"totalSize": 2, "done": true, "records": [{"attributes": {"type": "Oppor'},
            "is not JSON",
        ),
        ({"json": [opp(1)]}, "not an object"),
        ({"json": {"totalSize": 1, "done": True}}, "no 'records'"),
        (
            {"json": {"totalSize": 1, "done": True, "records": [opp(1), "006000000000002AAA"]}},
            "records[1]",
        ),
        ({"json": {"totalSize": 1, "done": "false", "records": []}}, "done"),
    ],
)
def test_a_malformed_query_page_is_unavailable_naming_the_endpoint_and_what_came_back(
    client, answer, said
):
    responses.add(responses.GET, f"{API}/queryAll/", **answer)
    text = unavailable(lambda: first_page(client))
    assert "GET /services/data/v62.0/queryAll/" in text and said in text


def test_a_proxy_page_is_quoted_cut_short(client):
    responses.add(responses.GET, f"{API}/queryAll/", body=PROXY_PAGE, content_type="text/html")
    text = unavailable(lambda: first_page(client))
    assert "(200)" in text and "Web filter: access denied" in text and "y" * 250 not in text


def test_a_next_page_cut_in_the_middle_is_unavailable(client):
    responses.add(responses.GET, f"{API}/queryAll/", json=page([opp(1)], NEXT))
    responses.add(
        responses.GET, f"{HOST}{NEXT}", body='{"totalSize": 3, "done": true, "records": [{"Id": "00'
    )
    pages = client.query_pages(SOQL)
    assert [r["Id"] for r in next(pages)] == [opp(1)["Id"]]
    assert f"GET {NEXT}" in unavailable(lambda: next(pages))


@pytest.mark.parametrize(
    "answer, said",
    [
        ({"json": ["006000000000001AAA"]}, "item 0 of the body is a str, not an object"),
        ({"json": {"id": "006000000000001AAA", "success": True}}, "not a list"),
        ({"body": "5"}, "is an int, not a list"),
        ({"body": "null"}, "is null, not a list"),
        ({"json": [{"id": "006000000000001AAA", "success": False, "errors": "locked"}]}, "errors"),
        ({"json": [{"id": "006000000000001AAA", "success": "yes"}]}, "success"),
        ({"body": '[{"id": "006000000000001AAA", "succ'}, "is not JSON"),
    ],
)
def test_malformed_collection_results_are_unavailable(client, answer, said):
    responses.add(responses.PATCH, f"{API}/composite/sobjects", **answer)
    text = unavailable(
        lambda: client.update("Opportunity", [{"Id": "006000000000001AAA", "PSA_Status__c": "x"}])
    )
    assert "PATCH /services/data/v62.0/composite/sobjects" in text and said in text


def test_a_describe_of_the_wrong_shape_is_unavailable(client):
    responses.add(
        responses.GET,
        f"{API}/sobjects/Opportunity/describe",
        json={"name": "Opportunity", "fields": 3},
    )
    assert "fields" in unavailable(lambda: client.describe("Opportunity"))
