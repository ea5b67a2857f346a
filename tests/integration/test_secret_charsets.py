"""Issue 20: secrets of any characters, every auth flow, both PSAs: a clear exit, no traceback.

requests encodes HTTP Basic credentials and header values as Latin-1, so a client secret with ``Ω``
was a ``UnicodeEncodeError`` (exit 70). Each flow is run against the emulator, whose connected app
is given the same secret (it must accept what Salesforce accepts: the form body, UTF-8), then with a
wrong one (exit 5). The PSAs: Redmine's key (a header) and Tryton's password (a JSON body).
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote_plus

import pytest
import requests
import responses

from sync.common.errors import AuthError, ConfigError
from sync.config import SalesforceAuth, SalesforceConfig, Secret
from sync.connectors.http import build_session
from sync.connectors.psa.redmine.http import RedmineHttp
from sync.connectors.psa.tryton.rpc import TrytonRpc
from sync.connectors.salesforce.client import SalesforceClient
from sync.emulator import Emulator

pytestmark = pytest.mark.integration

SECRETS = [
    "\u03a9mega-s\u00e9cret-\U0001f511-7Kq2",  # outside Latin-1, one outside the BMP
    "\u00dcn\u00efc\u00f8d\u00e9-latin1-4Tt2",  # Latin-1, not ASCII
    "quo\"te\\back'slash-9Zx1",
    "tab\tand\x01control-3Hh8",
    "plus+percent%25&amp=eq-8Rr5",
    ":colon:first  two spaces-1Qq3",
]


@pytest.fixture(scope="module")
def emu():
    with Emulator() as emulator:
        yield emulator


def connect(emu: Emulator, flow: str, **auth) -> SalesforceClient:
    fields = {
        "username": emu.username,
        "client_id": emu.client_id,
        "client_secret": Secret(emu.client_secret),
        "private_key_file": emu.private_key_file,
        "password": Secret(emu.password),
        **auth,
    }
    config = SalesforceConfig(
        login_url=emu.url,
        auth=SalesforceAuth(flow=flow, **fields),
        api_version="62.0",
        ca_bundle=emu.ca_file,
    )
    client = SalesforceClient(config, build_session(ca_bundle=emu.ca_file, timeout=10, retries=0))
    client.connect()
    return client


@pytest.fixture
def app(emu):
    saved = (emu.sessions.app.client_secret, emu.sessions.app.password, emu.sessions.app.username)
    yield emu.sessions.app
    emu.sessions.app.client_secret, emu.sessions.app.password, emu.sessions.app.username = saved


@pytest.mark.parametrize("secret", SECRETS)
def test_client_credentials_with_any_secret_connects_and_a_wrong_one_is_exit_5(emu, app, secret):
    app.client_secret = secret
    assert connect(emu, "client_credentials", client_secret=Secret(secret)).org_id == emu.org_id
    with pytest.raises(AuthError) as refused:
        connect(emu, "client_credentials", client_secret=Secret(secret + "x"))
    assert refused.value.exit_code == 5


@pytest.mark.parametrize("secret", SECRETS)
def test_the_password_flow_with_any_password_and_secret_connects_and_a_wrong_one_is_exit_5(
    emu, app, secret
):
    app.client_secret, app.password = secret, secret[::-1]
    assert connect(
        emu, "password", client_secret=Secret(secret), password=Secret(secret[::-1])
    ).org_id
    with pytest.raises(AuthError):
        connect(emu, "password", client_secret=Secret(secret), password=Secret(secret))


@pytest.mark.parametrize("secret", SECRETS)
def test_the_jwt_flow_with_any_username_connects_and_a_wrong_one_is_exit_5(emu, app, secret):
    app.username = secret + "@psa-sync.example"
    assert connect(emu, "jwt", username=secret + "@psa-sync.example").org_id == emu.org_id
    with pytest.raises(AuthError):
        connect(emu, "jwt", username=secret + "@elsewhere.example")


@pytest.mark.parametrize("secret", SECRETS)
def test_the_emulator_takes_http_basic_form_encoded_as_rfc_6749_says(emu, app, secret):
    app.client_secret = secret
    basic = base64.b64encode(f"{quote_plus(emu.client_id)}:{quote_plus(secret)}".encode()).decode()
    session = build_session(ca_bundle=emu.ca_file, timeout=10, retries=0)
    answer = session.post(
        emu.token_url,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert answer.status_code == 200, answer.text


@responses.activate
@pytest.mark.parametrize("secret", SECRETS)
def test_a_redmine_key_of_any_characters_is_refused_clearly_never_a_traceback(secret):
    responses.add(responses.GET, "http://127.0.0.1:3999/projects.json", status=401)
    try:
        RedmineHttp("http://127.0.0.1:3999", secret, requests.Session()).send(
            "GET", "/projects.json"
        )
    except ConfigError as exc:
        assert exc.exit_code == 2 and "psa.api_key: character" in str(exc)
        assert secret not in str(exc)
    except AuthError as exc:
        assert exc.exit_code == 5
    else:
        pytest.fail("a refused key was taken")


@responses.activate
@pytest.mark.parametrize("secret", SECRETS)
def test_a_tryton_password_of_any_characters_travels_as_json_and_a_refusal_is_exit_5(secret):
    responses.add(responses.POST, "http://127.0.0.1:3998/psa/rpc/", status=401)
    with pytest.raises(AuthError):
        TrytonRpc("http://127.0.0.1:3998/psa", "admin", secret, requests.Session()).login()
    sent = json.loads(responses.calls[0].request.body)
    assert sent["params"][1] == {"password": secret}
