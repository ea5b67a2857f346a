"""Canned Salesforce answers and settings shared by the connector's unit tests (the fixtures
are in conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import responses

from sync.config import SalesforceAuth, SalesforceConfig, Secret
from tests.fixtures.salesforce_bodies import fixture  # noqa: F401 - the real response bodies, re-exported

HOST = "https://acme.my.salesforce.com"
TOKEN_URL = f"{HOST}/services/oauth2/token"
API = f"{HOST}/services/data/v62.0"
NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
SERVER_DATE = "Mon, 02 Mar 2026 12:00:07 GMT"
ORG_15, USER_15 = "00Di0000000icUB", "005i0000000abcD"
# Recognisable fake secrets: none of them may ever appear in a log line or an exception text.
SECRET = "s3cr3t-CLIENT-SECRET-value"
PASSWORD = "p4ssw0rd-USER-PASSWORD"
SEC_TOKEN = "t0ken-SECURITY-TOKEN"
ACCESS = "00Dx!ACCESS-TOKEN-first"
ACCESS_2 = "00Dx!ACCESS-TOKEN-second"


def make_config(flow: str = "jwt", key_file: Path | None = None) -> SalesforceConfig:
    auth = SalesforceAuth(
        flow=flow,
        username="integration@acme.example",
        client_id="CONSUMER-KEY",
        client_secret=Secret(SECRET),
        private_key_file=key_file,
        password=Secret(PASSWORD),
        security_token=Secret(SEC_TOKEN),
    )
    return SalesforceConfig(login_url=HOST, auth=auth, api_version="62.0")


def add_token(access: str = ACCESS, status: int = 200, body: dict | None = None, headers=None):
    body = (
        body
        if body is not None
        else {
            "access_token": access,
            "instance_url": HOST,
            "token_type": "Bearer",
            "scope": "api",
            "id": f"https://login.salesforce.com/id/{ORG_15}/{USER_15}",
        }
    )
    responses.add(
        responses.POST,
        TOKEN_URL,
        json=body,
        status=status,
        headers=headers if headers is not None else {"Date": SERVER_DATE},
    )


def limit(used: int, cap: int = 15000) -> dict[str, str]:
    return {
        "Sforce-Limit-Info": f"api-usage={used}/{cap}; per-app-api-usage=3/250(appName=psa-sync)"
    }


def page(records: list[dict], next_url: str | None = None) -> dict:
    body = {"totalSize": 999, "done": next_url is None, "records": records}
    if next_url:
        body["nextRecordsUrl"] = next_url
    return body


def opp(n: int) -> dict:
    ident = f"006000000000{n:03d}AAA"
    return {
        "attributes": {
            "type": "Opportunity",
            "url": f"/services/data/v62.0/sobjects/Opportunity/{ident}",
        },
        "Id": ident,
        "Name": f"Deal {n}",
        "Amount": 100.5,
        "Account": None,
    }


def error_body(code: str, message: str = "m") -> list[dict]:
    """The JSON body of a Salesforce error response."""
    return [{"message": message, "errorCode": code}]
