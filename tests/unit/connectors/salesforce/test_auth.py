"""The Salesforce connector's identity and token flows, and the secrets it never shows."""

from __future__ import annotations

import json
import logging
import ssl
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses

from sync.common.errors import AuthError, ConfigError, SalesforceUnavailable
from sync.common.ids import to18
from sync.config import SalesforceConfig, Secret
from sync.connectors.salesforce.auth import ids_from_identity_url
from sync.connectors.salesforce.client import SalesforceClient
from tests.unit.connectors.salesforce.canned import (
    ACCESS,
    API,
    HOST,
    NOW,
    ORG_15,
    PASSWORD,
    SEC_TOKEN,
    SECRET,
    TOKEN_URL,
    USER_15,
    add_token,
    fixture,
    make_config,
)

# --- identity -------------------------------------------------------------------------------------


def test_fifteen_character_ids_get_their_case_safe_suffix():
    assert to18("00D000000000062") == "00D000000000062EAA"
    assert to18("00D000000000062EAA") == "00D000000000062EAA"
    with pytest.raises(ValueError):
        to18("short")


def test_org_and_user_come_from_the_identity_url():
    org, user = ids_from_identity_url(f"https://login.salesforce.com/id/{ORG_15}/{USER_15}")
    assert org.startswith(ORG_15) and len(org) == 18
    assert user.startswith(USER_15) and len(user) == 18


# --- token flows ----------------------------------------------------------------------------------


@responses.activate
def test_jwt_flow_signs_the_documented_claims_and_sets_org_instance_and_signpost(rsa_key, session):
    key_file, public_key = rsa_key
    add_token()
    client = SalesforceClient(make_config("jwt", key_file), session, now=lambda: NOW)
    client.connect()
    form = parse_qs(responses.calls[0].request.body)
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    claims = jwt.decode(
        form["assertion"][0],
        public_key,
        algorithms=["RS256"],
        audience="https://login.salesforce.com",
        options={"verify_exp": False},
    )
    assert claims["iss"] == "CONSUMER-KEY" and claims["sub"] == "integration@acme.example"
    assert claims["exp"] == int(NOW.timestamp()) + 180
    assert client.org_id == to18(ORG_15)
    assert client.instance_url == HOST
    assert client.server_time == datetime(2026, 3, 2, 12, 0, 7, tzinfo=UTC)
    assert client.sf.session_id == ACCESS
    assert client.usage.calls["token"] == 1 and client.usage.total == 0


@responses.activate
def test_jwt_audience_follows_the_config_not_the_token_host(rsa_key, session):
    key_file, public_key = rsa_key
    add_token()
    config = SalesforceConfig(
        login_url=HOST,
        auth=make_config("jwt", key_file).auth,
        audience="https://test.salesforce.com",
    )
    SalesforceClient(config, session, now=lambda: NOW).connect()
    assertion = parse_qs(responses.calls[0].request.body)["assertion"][0]
    assert (
        jwt.decode(
            assertion,
            public_key,
            algorithms=["RS256"],
            audience="https://test.salesforce.com",
            options={"verify_exp": False},
        )["aud"]
        == "https://test.salesforce.com"
    )


@responses.activate
def test_client_credentials_flow_sends_the_client_in_the_form_not_http_basic(session):
    add_token()
    SalesforceClient(make_config("client_credentials"), session).connect()
    request = responses.calls[0].request
    assert parse_qs(request.body) == {
        "grant_type": ["client_credentials"],
        "client_id": ["CONSUMER-KEY"],
        "client_secret": [SECRET],
    }
    assert (
        "Authorization" not in request.headers
    )  # requests' Basic is Latin-1: a secret with Ω crashed


@responses.activate
def test_password_flow_appends_the_security_token(session):
    add_token()
    SalesforceClient(make_config("password"), session).connect()
    form = parse_qs(responses.calls[0].request.body)
    assert form["grant_type"] == ["password"] and form["client_secret"] == [SECRET]
    assert form["password"] == [PASSWORD + SEC_TOKEN]


@responses.activate
def test_without_a_date_header_the_signpost_falls_back_to_the_injected_clock(session):
    add_token(headers={})
    client = SalesforceClient(make_config("client_credentials"), session, now=lambda: NOW)
    client.connect()
    assert client.server_time == NOW


@responses.activate
@pytest.mark.parametrize(
    "status,body,quoted",
    [
        (
            400,
            fixture("oauth-error-invalid-grant-400.json"),
            "invalid_grant: expired authorization code",
        ),
        (
            401,
            {"error": "invalid_client", "error_description": "invalid client credentials"},
            "invalid_client: invalid client credentials",
        ),
        (400, {"error": "invalid_grant"}, "invalid_grant: (no description)"),
        (403, None, "HTTP 403 without an OAuth error body"),
    ],
)
def test_a_refused_token_request_is_an_auth_error_quoting_salesforce(session, status, body, quoted):
    if body is None:
        responses.add(responses.POST, TOKEN_URL, body="<html>denied</html>", status=status)
    else:
        add_token(status=status, body=body)
    with pytest.raises(AuthError) as caught:
        SalesforceClient(make_config("password"), session).connect()
    assert quoted in str(caught.value)
    assert caught.value.exit_code == 5


@responses.activate
@pytest.mark.parametrize(
    "failure", [requests.ConnectionError("refused"), requests.ReadTimeout("slow")]
)
def test_an_unreachable_token_endpoint_is_salesforce_unavailable(session, failure):
    responses.add(responses.POST, TOKEN_URL, body=failure)
    with pytest.raises(SalesforceUnavailable):
        SalesforceClient(make_config("client_credentials"), session).connect()


@responses.activate
def test_an_untrusted_certificate_is_a_config_error_pointing_at_ca_bundle(session):
    untrusted = requests.exceptions.SSLError(
        ssl.SSLCertVerificationError(1, "certificate verify failed")
    )
    responses.add(responses.POST, TOKEN_URL, body=untrusted)
    with pytest.raises(ConfigError, match="ca_bundle"):
        SalesforceClient(make_config("client_credentials"), session).connect()


def test_an_untrusted_certificate_on_a_data_call_is_a_config_error(client):
    untrusted = requests.exceptions.SSLError(
        ssl.SSLCertVerificationError(1, "certificate verify failed")
    )
    responses.add(responses.GET, f"{API}/queryAll/", body=untrusted)
    with pytest.raises(ConfigError, match="acme.my.salesforce.com is not trusted"):
        next(client.query_pages("SELECT Id FROM Opportunity"))


@responses.activate
def test_a_token_endpoint_5xx_is_salesforce_unavailable(session):
    add_token(status=503, body={"error": "unavailable"})
    with pytest.raises(SalesforceUnavailable) as caught:
        SalesforceClient(make_config("client_credentials"), session).connect()
    assert caught.value.exit_code == 3


@responses.activate
def test_a_200_that_is_not_a_token_response_is_an_auth_error(session):
    add_token(body={"hello": "proxy"})
    with pytest.raises(AuthError, match="not a usable token response"):
        SalesforceClient(make_config("client_credentials"), session).connect()


def test_an_unusable_private_key_is_a_config_error(tmp_path, session):
    not_a_key = tmp_path / "key.pem"
    not_a_key.write_text("not a key")
    with pytest.raises(ConfigError, match="not a usable RSA private key"):
        SalesforceClient(make_config("jwt", not_a_key), session).connect()
    with pytest.raises(ConfigError, match="cannot read"):
        SalesforceClient(make_config("jwt", tmp_path / "missing.pem"), session).connect()


# --- secrets --------------------------------------------------------------------------------------


@responses.activate
def test_no_secret_reaches_a_log_line_or_an_exception(rsa_key, session, caplog):
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    for flow in ("jwt", "client_credentials", "password"):
        responses.add(
            responses.POST,
            TOKEN_URL,
            status=400,
            json={"error": "invalid_grant", "error_description": "authentication failure"},
        )
        with pytest.raises(AuthError) as caught:
            SalesforceClient(make_config(flow, rsa_key[0]), session).connect()
        texts.append(str(caught.value))
        responses.reset()
    add_token()
    responses.add(
        responses.GET,
        f"{API}/queryAll/",
        status=401,
        json=fixture("error-invalid-session-401.json"),
    )
    client = SalesforceClient(make_config("password"), session)
    client.connect()
    with pytest.raises(AuthError) as caught:
        next(client.query_pages("SELECT Id FROM Opportunity WHERE Name = 'Secret deal'"))
    texts.append(str(caught.value))
    texts.append(repr(client._grant))
    everything = caplog.text + "\n".join(texts)
    assert "invalid_grant" in everything  # the check reads real text
    for secret in (SECRET, PASSWORD, SEC_TOKEN, ACCESS, "Secret deal"):
        assert secret not in everything


@responses.activate
@pytest.mark.parametrize("flow", ["client_credentials", "password"])
def test_a_token_endpoint_that_echoes_the_request_is_never_quoted(session, flow):
    """Issue 20: an error_description that echoes the form (quoted, escaped or percent-encoded)
    shows only within RFC 6749's characters, and masked there; the body itself is never quoted."""
    from urllib.parse import urlencode

    from sync.common import redaction

    wide = 'Wd9Jq4-"\\-\u00e9-\u03a9-Zr5Tm1'
    redaction.register_secret(wide)
    echoes = [
        f"bad secret {wide}",
        f"bad form {urlencode({'client_secret': wide})}",
        json.dumps(wide),
    ]
    texts = []
    for echo in echoes:
        body = {"error": "invalid_client", "error_description": echo}
        responses.add(responses.POST, TOKEN_URL, status=400, json=body)
        config = make_config(flow)
        config = replace(config, auth=replace(config.auth, client_secret=Secret(wide)))
        with pytest.raises(AuthError) as refused:
            SalesforceClient(config, session).connect()
        texts.append(str(refused.value))
        responses.reset()
    assert all("invalid_client" in text for text in texts)
    assert not [text for text in texts if "Wd9Jq4" in text or "Zr5Tm1" in text]
