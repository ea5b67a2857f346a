"""Tryton's JSON-RPC at the boundary: its value encoding both ways, the session login, and how each
kind of answer becomes a result, a per-record refusal or a whole-connection error."""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal

import pytest
import requests
import responses

from sync.common.errors import AuthError, ConfigError, PsaUnavailable
from sync.connectors.psa.tryton.codec import decode, encode
from sync.connectors.psa.tryton.connector import TrytonConnector
from sync.connectors.psa.tryton.rpc import TrytonError, TrytonRpc

URL = "http://tryton.test/psa"
RPC = URL + "/rpc/"


def test_values_travel_as_tryton_encodes_them_and_come_back_equal():
    values = [
        Decimal("125000.50"),
        dt.date(2026, 2, 1),
        dt.datetime(2026, 2, 1, 9, 30, 5, 7),
        dt.timedelta(hours=7.5),
        b"\x00\xff",
        "text",
        3,
        None,
    ]
    text = encode(values)
    assert json.loads(text)[:4] == [
        {"__class__": "Decimal", "decimal": "125000.50"},
        {"__class__": "date", "year": 2026, "month": 2, "day": 1},
        {
            "__class__": "datetime",
            "year": 2026,
            "month": 2,
            "day": 1,
            "hour": 9,
            "minute": 30,
            "second": 5,
            "microsecond": 7,
        },
        {"__class__": "timedelta", "seconds": 27000.0},
    ]
    assert decode(text) == values
    assert decode('{"__class__": "Decimal", "decimal": "1E+2"}') == Decimal(100)


def login(rsps, token="tok"):
    rsps.add(
        responses.POST,
        RPC,
        json={"id": 1, "result": [1, token, None]},
        match=[
            responses.matchers.json_params_matcher(
                {"method": "common.db.login", "params": ["admin", {"password": "pw"}, "en"]},
                strict_match=False,
            )
        ],
    )


@responses.activate
def test_a_call_logs_in_once_and_sends_the_session_header_and_the_context():
    login(responses)
    responses.add(
        responses.POST,
        RPC,
        json={"id": 2, "result": {"company": 1, "companies": [1], "language": "en"}},
    )
    responses.add(responses.POST, RPC, json={"id": 3, "result": [7]})
    rpc = TrytonRpc(URL, "admin", "pw", requests.Session())
    assert rpc.model("project.work", "search", [["salesforce_key", "=", "K"]], 0, None, None) == [7]
    last = responses.calls[-1].request
    assert last.headers["Authorization"] == "Session " + base64.b64encode(b"admin:1:tok").decode()
    body = json.loads(last.body)
    assert body["method"] == "model.project.work.search"
    assert body["params"][-1] == {"company": 1, "companies": [1], "language": "en"}
    sent = last.body if isinstance(last.body, bytes) else last.body.encode()
    assert b'"pw"' not in sent  # the password goes with the login only


@responses.activate
def test_a_refusal_is_a_tryton_error_with_tryton_s_words():
    login(responses)
    responses.add(
        responses.POST,
        RPC,
        json={
            "id": 2,
            "error": [
                "UserError",
                [
                    'The value "barter" for field "Invoice Method" '
                    "is not one of the allowed options.",
                    "",
                    None,
                ],
            ],
        },
    )
    rpc = TrytonRpc(URL, "admin", "pw", requests.Session())
    with pytest.raises(TrytonError, match='"barter" for field "Invoice Method"') as raised:
        rpc.call("model.project.work.create", [{}], {}, idempotent=False)
    assert raised.value.kind == "UserError"


@responses.activate
def test_a_wrong_password_is_an_auth_error_that_never_shows_it():
    responses.add(responses.POST, RPC, status=401, body="<html>Unauthorized</html>")
    rpc = TrytonRpc(URL, "admin", "s3cret-pw", requests.Session())
    with pytest.raises(AuthError, match="refused the login") as raised:
        rpc.call("model.project.work.search", [], {})
    assert "s3cret-pw" not in str(raised.value)


@responses.activate
def test_an_expired_session_logs_in_again_once():
    login(responses, "old")
    responses.add(responses.POST, RPC, status=401)
    login(responses, "new")
    responses.add(responses.POST, RPC, json={"id": 4, "result": [1]})
    rpc = TrytonRpc(URL, "admin", "pw", requests.Session())
    assert rpc.call("model.project.work.search", [], {}) == [1]
    assert (
        responses.calls[-1]
        .request.headers["Authorization"]
        .endswith(base64.b64encode(b"admin:1:new").decode())
    )


@responses.activate
def test_a_5xx_is_resent_only_when_the_call_is_idempotent():
    login(responses)
    responses.add(responses.POST, RPC, status=503)
    responses.add(responses.POST, RPC, json={"id": 3, "result": [1]})
    rpc = TrytonRpc(URL, "admin", "pw", requests.Session())
    assert rpc.call("model.project.work.search", [], {}) == [1]
    responses.add(responses.POST, RPC, status=503)
    with pytest.raises(PsaUnavailable, match="answered HTTP 503 to model.project.work.create"):
        rpc.call("model.project.work.create", [{}], {}, idempotent=False)


@responses.activate
def test_a_page_that_is_not_json_rpc_is_unavailable_not_a_traceback():
    login(responses)
    responses.add(responses.POST, RPC, body="<html>proxy login</html>", status=200)
    rpc = TrytonRpc(URL, "admin", "pw", requests.Session())
    with pytest.raises(PsaUnavailable, match="not JSON-RPC"):
        rpc.call("model.project.work.search", [], {}, idempotent=False)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"customer": "parent_project"}, "in Tryton the customer is the project's party"),
        ({"create_parties": "yes"}, "create_parties: 'yes' must be true or false"),
        ({"write_concurency": 2}, "unknown option(s) write_concurency for tryton"),
    ],
)
def test_bad_options_are_config_errors_naming_the_key(options, message):
    with pytest.raises(ConfigError) as raised:
        TrytonConnector.from_settings(URL, "pw", options, requests.Session())
    assert message in str(raised.value)
