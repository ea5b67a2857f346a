"""The API budget: the run's own cap, the org's share, and how calls are counted."""

from __future__ import annotations

import pytest
import responses

from sync.common.errors import BudgetExceededError, ConfigError
from sync.connectors.salesforce.client import SalesforceClient
from sync.connectors.salesforce.usage import endpoint_of
from tests.unit.connectors.salesforce.canned import (
    API,
    NOW,
    add_token,
    error_body,
    limit,
    make_config,
    page,
)

# --- the API budget -------------------------------------------------------------------------------


@responses.activate
def test_the_run_stops_before_passing_its_own_call_cap(rsa_key, session):
    add_token()
    responses.add(responses.GET, f"{API}/queryAll/", json=page([]))
    client = SalesforceClient(
        make_config("jwt", rsa_key[0]), session, max_calls_per_run=2, now=lambda: NOW
    )
    client.connect()
    for _ in range(2):
        list(client.query_pages("SELECT Id FROM Opportunity"))
    assert not client.budget_left()
    with pytest.raises(BudgetExceededError, match=r"made 2 .*max_calls_per_run \(2\)"):
        list(client.query_pages("SELECT Id FROM Opportunity"))
    assert len(responses.calls) == 3  # the refused call was never sent


def test_the_run_stops_before_the_org_passes_its_share(client):
    responses.add(responses.GET, f"{API}/queryAll/", json=page([]), headers=limit(12000))
    list(client.query_pages("SELECT Id FROM Opportunity"))
    assert not client.budget_left()  # at 80% of 15000: one more would pass it
    with pytest.raises(BudgetExceededError, match=r"used 12000 of its 15000 .*80% = 12000"):
        list(client.query_pages("SELECT Id FROM Opportunity"))


def test_the_org_share_is_read_from_error_responses_too(client):
    responses.add(
        responses.GET,
        f"{API}/queryAll/",
        status=400,
        json=error_body("MALFORMED_QUERY"),
        headers=limit(14000),
    )
    with pytest.raises(ConfigError):
        next(client.query_pages("SELECT"))
    assert (client.usage.org_used, client.usage.org_max) == (14000, 15000)
    assert not client.budget_left()


def test_below_both_limits_the_budget_is_left(client):
    responses.add(responses.GET, f"{API}/queryAll/", json=page([]), headers=limit(11999))
    list(client.query_pages("SELECT Id FROM Opportunity"))
    assert client.budget_left()


@pytest.mark.parametrize(
    "method,path,endpoint",
    [
        ("POST", "/services/oauth2/token", "token"),
        ("GET", "/services/data/v62.0/query/?q=SELECT+Id", "query"),
        ("GET", "/services/data/v62.0/queryAll?q=x", "queryAll"),
        ("GET", "/services/data/v62.0/queryAll/01gRO-2000", "queryMore"),
        ("PATCH", "/services/data/v62.0/composite/sobjects", "composite"),
        ("GET", "/services/data/v62.0/sobjects/Opportunity/describe/", "describe"),
        ("GET", "/services/data/v62.0/sobjects/Opportunity/006000000000001AAA", "sobject"),
        ("GET", "/services/data/v62.0/limits/", "limits"),
        ("GET", "/favicon.ico", "other"),
    ],
)
def test_calls_are_counted_under_their_endpoint_name(method, path, endpoint):
    assert endpoint_of(method, path) == endpoint


def test_limits_is_one_counted_call_that_reads_the_org_share_too(client):
    body = {"DailyDeliveredPlatformEvents": {"Max": 25_000, "Remaining": 24_810}}
    responses.add(responses.GET, f"{API}/limits/", json=body, headers=limit(14000))
    assert client.limits() == body
    assert client.usage.org_used == 14000
    assert client.usage.calls["limits"] == 1
