"""A redirect is never followed with credentials: not the bearer token of a data call, not the
client secret or password of a token request (a 307 would re-send the form to wherever it points). A
3xx stops the run (exit 3), naming where it pointed."""

from __future__ import annotations

import pytest
import responses

from sync.common.errors import SalesforceUnavailable
from sync.connectors.salesforce.client import SalesforceClient
from tests.unit.connectors.salesforce.canned import API, NOW, SECRET, TOKEN_URL, make_config, page

ELSEWHERE = "https://elsewhere.example"


def calls_to(host: str) -> list:
    return [c for c in responses.calls if c.request.url.startswith(host)]


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_redirected_query_is_not_followed(client, status):
    responses.add(
        responses.GET,
        f"{API}/queryAll/",
        status=status,
        headers={"Location": f"{ELSEWHERE}/services/data/v62.0/queryAll/?q=SELECT+Secret__c"},
    )
    responses.add(responses.GET, f"{ELSEWHERE}/services/data/v62.0/queryAll/", json=page([]))
    with pytest.raises(SalesforceUnavailable) as raised:
        next(client.query_pages("SELECT Secret__c FROM Opportunity"))
    assert calls_to(ELSEWHERE) == []
    text = str(raised.value)
    assert (
        "redirected GET /services/data/v62.0/queryAll/ "
        f"to {ELSEWHERE}/services/data/v62.0/queryAll/" in text
    )
    assert "Secret__c" not in text and raised.value.exit_code == 3


@responses.activate
def test_a_redirected_token_request_does_not_send_the_secret_elsewhere(session):
    responses.add(
        responses.POST,
        TOKEN_URL,
        status=307,
        headers={"Location": f"{ELSEWHERE}/services/oauth2/token"},
    )
    responses.add(responses.POST, f"{ELSEWHERE}/services/oauth2/token", json={"access_token": "x"})
    client = SalesforceClient(
        make_config("client_credentials"), session, now=lambda: NOW, sleep=lambda s: None
    )
    with pytest.raises(
        SalesforceUnavailable, match=f"redirected to {ELSEWHERE}/services/oauth2/token"
    ):
        client.connect()
    assert calls_to(ELSEWHERE) == []
    assert all(SECRET not in str(c.request.body or "") for c in calls_to(ELSEWHERE))
