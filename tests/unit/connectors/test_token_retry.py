"""Issue 6 item 3: a token request creates nothing, so a reset or a 5xx is asked again (bounded)."""

from __future__ import annotations

import pytest
import requests
import responses

from sync.common.errors import AuthError, SalesforceUnavailable
from sync.config import SalesforceAuth, SalesforceConfig, Secret
from sync.connectors.salesforce.auth import TOKEN_ATTEMPTS
from sync.connectors.salesforce.client import SalesforceClient

HOST = "https://login.example"
TOKEN_URL = HOST + "/services/oauth2/token"
GRANT = {
    "access_token": "00Dx!token",
    "instance_url": "https://acme.my.salesforce.com",
    "id": f"{HOST}/id/00D000000000001AAA/005000000000001AAA",
    "token_type": "Bearer",
}


def config() -> SalesforceConfig:
    return SalesforceConfig(
        login_url=HOST,
        auth=SalesforceAuth(
            flow="client_credentials", client_id="app", client_secret=Secret("s3cret-value")
        ),
    )


@pytest.fixture
def slept() -> list[float]:
    return []


def client(slept: list[float]) -> SalesforceClient:
    return SalesforceClient(config(), requests.Session(), sleep=slept.append)


@responses.activate
def test_a_reset_then_a_503_then_a_token(slept):
    responses.add(responses.POST, TOKEN_URL, body=requests.ConnectionError("reset by peer"))
    responses.add(responses.POST, TOKEN_URL, status=503, json={"error": "unavailable"})
    responses.add(responses.POST, TOKEN_URL, json=GRANT)
    sf = client(slept)
    sf.connect()
    assert sf.org_id == "00D000000000001AAA"
    assert len(responses.calls) == 3
    assert len(slept) == 2 and slept[1] > slept[0] * 0.9  # growing backoff (jittered)


@responses.activate
def test_the_token_request_is_asked_a_bounded_number_of_times(slept):
    responses.add(responses.POST, TOKEN_URL, status=503, json={"error": "unavailable"})
    with pytest.raises(SalesforceUnavailable):
        client(slept).connect()
    assert len(responses.calls) == TOKEN_ATTEMPTS


@responses.activate
def test_a_refusal_is_never_asked_again(slept):
    responses.add(responses.POST, TOKEN_URL, status=400, json={"error": "invalid_client"})
    with pytest.raises(AuthError):
        client(slept).connect()
    assert len(responses.calls) == 1 and slept == []
