"""The token endpoint: client credentials, JWT bearer and password grants, and their refusals."""

from __future__ import annotations

import time

import jwt
import pytest
from simple_salesforce import Salesforce

from tests.fixtures.emulator import trusting_session

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _assertion(emu, **overrides):
    """Signed as simple-salesforce signs it: RS256, exp as a *string*."""
    claims = {
        "iss": emu.client_id,
        "sub": emu.username,
        "aud": "https://login.salesforce.com",
        "exp": str(int(time.time()) + 180),
    }
    claims.update(overrides)
    return jwt.encode(claims, emu.private_key_file.read_bytes(), algorithm="RS256")


def _post(emu, data, auth=None):
    return trusting_session(emu).post(emu.token_url, data=data, auth=auth)


def _assert_token_response(emu, body):
    assert body["instance_url"] == emu.url and body["token_type"] == "Bearer"
    assert body["id"] == f"{emu.url}/id/{emu.org_id}/{emu.user_id}"
    assert body["access_token"].startswith(emu.org_id[:15] + "!")
    assert body["issued_at"].isdigit() and body["signature"]


def test_client_credentials_with_basic_auth_gives_a_working_session(emulator):
    answer = _post(
        emulator,
        {"grant_type": "client_credentials"},
        auth=(emulator.client_id, emulator.client_secret),
    )
    assert answer.status_code == 200
    body = answer.json()
    _assert_token_response(emulator, body)
    sf = Salesforce(
        instance_url=body["instance_url"],
        session_id=body["access_token"],
        session=trusting_session(emulator),
    )
    assert sf.query("SELECT Username FROM User")["records"][0]["Username"] == emulator.username
    assert emulator.calls["token"] == 1 and emulator.api_used == 1  # the token call is free


def test_client_credentials_in_the_body(emulator):
    answer = _post(
        emulator,
        {
            "grant_type": "client_credentials",
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
        },
    )
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "aud", ["https://login.salesforce.com", "https://test.salesforce.com", None]
)
def test_jwt_bearer_grant(emulator, aud):
    assertion = _assertion(emulator, aud=aud or emulator.url)
    answer = _post(emulator, {"grant_type": JWT_GRANT, "assertion": assertion})
    assert answer.status_code == 200
    _assert_token_response(emulator, answer.json())


def test_password_grant(emulator):
    answer = _post(
        emulator,
        {
            "grant_type": "password",
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
            "username": emulator.username,
            "password": emulator.password,
        },
    )
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "overrides, error, description",
    [
        ({"exp": str(int(time.time()) - 60)}, "invalid_grant", "expired authorization code"),
        ({"exp": int(time.time()) - 60}, "invalid_grant", "expired authorization code"),
        ({"aud": "https://evil.example"}, "invalid_grant", "audience is invalid"),
        ({"sub": "someone@else.example"}, "invalid_grant", "user hasn't approved this consumer"),
        ({"iss": "not-our-app"}, "invalid_client_id", "client identifier invalid"),
    ],
)
def test_jwt_refusals(emulator, overrides, error, description):
    answer = _post(
        emulator, {"grant_type": JWT_GRANT, "assertion": _assertion(emulator, **overrides)}
    )
    assert answer.status_code == 400
    assert answer.json() == {"error": error, "error_description": description}
    assert "Sforce-Limit-Info" not in answer.headers


def test_jwt_signed_by_another_key_is_refused(emulator):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    claims = {
        "iss": emulator.client_id,
        "sub": emulator.username,
        "aud": "https://login.salesforce.com",
        "exp": str(int(time.time()) + 60),
    }
    answer = _post(
        emulator,
        {"grant_type": JWT_GRANT, "assertion": jwt.encode(claims, other, algorithm="RS256")},
    )
    assert answer.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}


@pytest.mark.parametrize(
    "data, auth, error",
    [
        ({"grant_type": "client_credentials"}, ("wrong", "secret"), "invalid_client_id"),
        ({"grant_type": "client_credentials"}, None, "invalid_client_id"),
        ({"grant_type": "authorization_code", "code": "x"}, None, "unsupported_grant_type"),
        ({}, None, "unsupported_grant_type"),
    ],
)
def test_client_refusals(emulator, data, auth, error):
    answer = _post(emulator, data, auth=auth)
    assert answer.status_code == 400 and answer.json()["error"] == error


def test_wrong_secret_and_wrong_password(emulator):
    secret = _post(
        emulator, {"grant_type": "client_credentials"}, auth=(emulator.client_id, "nope")
    )
    assert secret.json() == {
        "error": "invalid_client",
        "error_description": "invalid client credentials",
    }
    password = _post(
        emulator,
        {
            "grant_type": "password",
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
            "username": emulator.username,
            "password": "wrong",
        },
    )
    assert password.json() == {
        "error": "invalid_grant",
        "error_description": "authentication failure",
    }


def test_a_made_up_bearer_token_is_refused(emulator):
    answer = trusting_session(emulator).get(
        f"{emulator.url}/services/data/v62.0/limits",
        headers={"Authorization": "Bearer 00D!made-up"},
    )
    assert answer.status_code == 401
    assert answer.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
