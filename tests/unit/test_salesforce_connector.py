"""The Salesforce connector against `responses`: tokens, paging, errors, collections, the API budget."""

from __future__ import annotations

import base64
import json
import logging
import ssl
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sync.config import SalesforceAuth, SalesforceConfig, Secret
from sync.connectors.http import build_session
from sync.connectors.salesforce import SalesforceClient
from sync.connectors.salesforce_auth import ids_from_identity_url
from sync.connectors.salesforce_collections import SaveResult
from sync.connectors.salesforce_errors import TRANSIENT_CODES
from sync.connectors.salesforce_usage import endpoint_of
from sync.errors import AuthError, BudgetExceededError, ConfigError, SalesforceUnavailable
from sync.sfid import to18

FIXTURES = Path(__file__).resolve().parent / "salesforce_fixtures"  # copies of real response bodies
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


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="session")
def rsa_key(tmp_path_factory) -> tuple[Path, rsa.RSAPublicKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("keys") / "server.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path, key.public_key()


def make_config(flow: str = "jwt", key_file: Path | None = None) -> SalesforceConfig:
    auth = SalesforceAuth(flow=flow, username="integration@acme.example", client_id="CONSUMER-KEY",
                          client_secret=Secret(SECRET), private_key_file=key_file,
                          password=Secret(PASSWORD), security_token=Secret(SEC_TOKEN))
    return SalesforceConfig(login_url=HOST, auth=auth, api_version="62.0")


def add_token(access: str = ACCESS, status: int = 200, body: dict | None = None, headers=None):
    body = body if body is not None else {
        "access_token": access, "instance_url": HOST, "token_type": "Bearer", "scope": "api",
        "id": f"https://login.salesforce.com/id/{ORG_15}/{USER_15}"}
    responses.add(responses.POST, TOKEN_URL, json=body, status=status,
                  headers=headers if headers is not None else {"Date": SERVER_DATE})


def limit(used: int, cap: int = 15000) -> dict[str, str]:
    return {"Sforce-Limit-Info": f"api-usage={used}/{cap}; per-app-api-usage=3/250(appName=psa-sync)"}


def page(records: list[dict], next_url: str | None = None) -> dict:
    body = {"totalSize": 999, "done": next_url is None, "records": records}
    if next_url:
        body["nextRecordsUrl"] = next_url
    return body


def opp(n: int) -> dict:
    ident = f"006000000000{n:03d}AAA"
    return {"attributes": {"type": "Opportunity", "url": f"/services/data/v62.0/sobjects/Opportunity/{ident}"},
            "Id": ident, "Name": f"Deal {n}", "Amount": 100.5, "Account": None}


@pytest.fixture
def session() -> requests.Session:
    return build_session(ca_bundle=None, timeout=5, retries=0)


@pytest.fixture
def client(rsa_key, session):
    """A connected JWT client whose sleeps are recorded, not slept."""
    slept: list[float] = []
    sf = SalesforceClient(make_config("jwt", rsa_key[0]), session, now=lambda: NOW, sleep=slept.append)
    sf.slept = slept
    with responses.mock:
        add_token()
        sf.connect()
        yield sf


# --- identity ----------------------------------------------------------------------------------------


def test_fifteen_character_ids_get_their_case_safe_suffix():
    assert to18("00D000000000062") == "00D000000000062EAA"
    assert to18("00D000000000062EAA") == "00D000000000062EAA"
    with pytest.raises(ValueError):
        to18("short")


def test_org_and_user_come_from_the_identity_url():
    org, user = ids_from_identity_url(f"https://login.salesforce.com/id/{ORG_15}/{USER_15}")
    assert org.startswith(ORG_15) and len(org) == 18
    assert user.startswith(USER_15) and len(user) == 18


# --- token flows -------------------------------------------------------------------------------------


@responses.activate
def test_jwt_flow_signs_the_documented_claims_and_sets_org_instance_and_signpost(rsa_key, session):
    key_file, public_key = rsa_key
    add_token()
    client = SalesforceClient(make_config("jwt", key_file), session, now=lambda: NOW)
    client.connect()
    form = parse_qs(responses.calls[0].request.body)
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    claims = jwt.decode(form["assertion"][0], public_key, algorithms=["RS256"],
                        audience="https://login.salesforce.com", options={"verify_exp": False})
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
    config = SalesforceConfig(login_url=HOST, auth=make_config("jwt", key_file).auth,
                              audience="https://test.salesforce.com")
    SalesforceClient(config, session, now=lambda: NOW).connect()
    assertion = parse_qs(responses.calls[0].request.body)["assertion"][0]
    assert jwt.decode(assertion, public_key, algorithms=["RS256"], audience="https://test.salesforce.com",
                      options={"verify_exp": False})["aud"] == "https://test.salesforce.com"


@responses.activate
def test_client_credentials_flow_uses_http_basic(session):
    add_token()
    SalesforceClient(make_config("client_credentials"), session).connect()
    request = responses.calls[0].request
    assert parse_qs(request.body) == {"grant_type": ["client_credentials"]}
    scheme, encoded = request.headers["Authorization"].split()
    assert scheme == "Basic" and base64.b64decode(encoded).decode() == f"CONSUMER-KEY:{SECRET}"


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
@pytest.mark.parametrize("status,body,quoted", [
    (400, fixture("oauth-error-invalid-grant-400.json"), "invalid_grant: expired authorization code"),
    (401, {"error": "invalid_client", "error_description": "invalid client credentials"},
     "invalid_client: invalid client credentials"),
    (400, {"error": "invalid_grant"}, "invalid_grant: (no description)"),
    (403, None, "HTTP 403 without an OAuth error body"),
])
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
@pytest.mark.parametrize("failure", [requests.ConnectionError("refused"), requests.ReadTimeout("slow")])
def test_an_unreachable_token_endpoint_is_salesforce_unavailable(session, failure):
    responses.add(responses.POST, TOKEN_URL, body=failure)
    with pytest.raises(SalesforceUnavailable):
        SalesforceClient(make_config("client_credentials"), session).connect()


@responses.activate
def test_an_untrusted_certificate_is_a_config_error_pointing_at_ca_bundle(session):
    untrusted = requests.exceptions.SSLError(ssl.SSLCertVerificationError(1, "certificate verify failed"))
    responses.add(responses.POST, TOKEN_URL, body=untrusted)
    with pytest.raises(ConfigError, match="ca_bundle"):
        SalesforceClient(make_config("client_credentials"), session).connect()


def test_an_untrusted_certificate_on_a_data_call_is_a_config_error(client):
    untrusted = requests.exceptions.SSLError(ssl.SSLCertVerificationError(1, "certificate verify failed"))
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
    with pytest.raises(AuthError, match="without a usable token response"):
        SalesforceClient(make_config("client_credentials"), session).connect()


def test_an_unusable_private_key_is_a_config_error(tmp_path, session):
    not_a_key = tmp_path / "key.pem"
    not_a_key.write_text("not a key")
    with pytest.raises(ConfigError, match="not a usable RSA private key"):
        SalesforceClient(make_config("jwt", not_a_key), session).connect()
    with pytest.raises(ConfigError, match="cannot read"):
        SalesforceClient(make_config("jwt", tmp_path / "missing.pem"), session).connect()


# --- paging ------------------------------------------------------------------------------------------


def test_pages_are_streamed_over_queryall_then_next_records_url(client):
    next_path = "/services/data/v62.0/queryAll/01gRO0000016PIAYA2-2"
    responses.add(responses.GET, f"{API}/queryAll/", json=page([opp(1), opp(2)], next_path), headers=limit(10))
    responses.add(responses.GET, f"{HOST}{next_path}", json=page([opp(3)]), headers=limit(11))
    pages = client.query_pages("SELECT Id FROM Opportunity", batch_size=500)
    first = next(pages)
    assert [r["Id"] for r in first] == [opp(1)["Id"], opp(2)["Id"]]
    assert len(responses.calls) == 2  # the token and one page: the next page waits for the consumer
    assert [[r["Id"] for r in p] for p in pages] == [[opp(3)["Id"]]]
    assert first[0]["attributes"]["type"] == "Opportunity" and first[0]["Account"] is None
    data_calls = responses.calls[1:]
    assert parse_qs(data_calls[0].request.url.split("?", 1)[1]) == {"q": ["SELECT Id FROM Opportunity"]}
    assert all(c.request.headers["Sforce-Query-Options"] == "batchSize=500" for c in data_calls)
    assert all(c.request.headers["Authorization"] == f"Bearer {ACCESS}" for c in data_calls)
    assert client.usage.calls == {"token": 1, "queryAll": 1, "queryMore": 1}
    assert (client.usage.total, client.usage.org_used, client.usage.org_max) == (2, 11, 15000)


def test_include_deleted_false_uses_query(client):
    responses.add(responses.GET, f"{API}/query/", json=page([]))
    assert list(client.query_pages("SELECT Id FROM Opportunity", include_deleted=False)) == [[]]


def test_a_page_that_is_not_done_without_a_next_url_stops_the_run(client):
    body = page([opp(1)])
    body["done"] = False
    responses.add(responses.GET, f"{API}/queryAll/", json=body)
    pages = client.query_pages("SELECT Id FROM Opportunity")
    next(pages)
    with pytest.raises(SalesforceUnavailable, match="nextRecordsUrl"):
        next(pages)


@pytest.mark.parametrize("size", [199, 2001])
def test_batch_size_outside_salesforce_bounds_is_refused(client, size):
    with pytest.raises(ValueError, match="batch_size"):
        next(client.query_pages("SELECT Id FROM Opportunity", batch_size=size))


# --- error translation -------------------------------------------------------------------------------


def _error(code: str, message: str = "m") -> list[dict]:
    return [{"message": message, "errorCode": code}]


@pytest.mark.parametrize("status,body,expected", [
    (403, fixture("error-request-limit-403.json"), BudgetExceededError),
    (403, _error("INSUFFICIENT_ACCESS", "no access"), AuthError),
    (403, _error("API_DISABLED_FOR_ORG", "API is not enabled"), AuthError),
    (401, _error("INVALID_AUTH_HEADER"), AuthError),
    (400, fixture("error-invalid-field-400.json"), ConfigError),
    (400, fixture("error-malformed-query-400.json"), ConfigError),
    (400, _error("INVALID_TYPE", "sObject type 'Opp' is not supported."), ConfigError),
    (400, _error("QUERY_TIMEOUT", "Your query request was running for too long."), SalesforceUnavailable),
    (400, _error("INVALID_QUERY_LOCATOR", "invalid query locator"), SalesforceUnavailable),
    (500, _error("UNKNOWN_EXCEPTION"), SalesforceUnavailable),
    (503, "Service Unavailable", SalesforceUnavailable),
    (502, "<html>bad gateway</html>", SalesforceUnavailable),
])
def test_error_translation_table(client, status, body, expected):
    kwargs = {"json": body} if not isinstance(body, str) else {"body": body}
    responses.add(responses.GET, f"{API}/queryAll/", status=status, **kwargs)
    with pytest.raises(expected):
        next(client.query_pages("SELECT Id FROM Opportunity"))


def test_invalid_field_names_the_field_and_says_to_fix_the_mapping(client):
    responses.add(responses.GET, f"{API}/queryAll/", status=400, json=fixture("error-invalid-field-400.json"))
    with pytest.raises(ConfigError) as caught:
        next(client.query_pages("SELECT Id, SF_date__c FROM Lead"))
    text = str(caught.value)
    assert "SF_date__c" in text and "Lead" in text and "mapping" in text
    assert "select Id, Company" not in text  # the echoed query stays out
    assert caught.value.exit_code == 2


def test_malformed_query_quotes_salesforce(client):
    responses.add(responses.GET, f"{API}/queryAll/", status=400, json=fixture("error-malformed-query-400.json"))
    with pytest.raises(ConfigError, match="unexpected token: q"):
        next(client.query_pages("SELECT"))


def test_request_limit_exceeded_says_the_run_resumes(client):
    responses.add(responses.GET, f"{API}/queryAll/", status=403, json=fixture("error-request-limit-403.json"))
    with pytest.raises(BudgetExceededError) as caught:
        next(client.query_pages("SELECT Id FROM Opportunity"))
    assert "daily API limit is spent" in str(caught.value) and caught.value.exit_code == 4


@pytest.mark.parametrize("failure", [requests.ConnectionError("reset"), requests.ReadTimeout("slow")])
def test_connection_failures_after_retries_are_salesforce_unavailable(client, failure):
    responses.add(responses.GET, f"{API}/queryAll/", body=failure)
    with pytest.raises(SalesforceUnavailable):
        next(client.query_pages("SELECT Id FROM Opportunity"))


def test_a_200_that_is_not_json_is_salesforce_unavailable(client):
    responses.add(responses.GET, f"{API}/queryAll/", body="<html>maintenance</html>")
    with pytest.raises(SalesforceUnavailable, match="not JSON"):
        next(client.query_pages("SELECT Id FROM Opportunity"))


# --- re-authentication -------------------------------------------------------------------------------


def test_an_expired_session_is_renewed_once_and_the_call_retried(client):
    expired = fixture("error-invalid-session-401.json")
    responses.add(responses.GET, f"{API}/queryAll/", status=401, json=expired)
    add_token(access=ACCESS_2)
    responses.add(responses.GET, f"{API}/queryAll/", json=page([opp(1)]))
    assert list(client.query_pages("SELECT Id FROM Opportunity")) == [[opp(1)]]
    assert client.usage.calls == {"token": 2, "queryAll": 2}
    assert responses.calls[-1].request.headers["Authorization"] == f"Bearer {ACCESS_2}"


def test_a_second_invalid_session_is_an_auth_error(client):
    expired = fixture("error-invalid-session-401.json")
    responses.add(responses.GET, f"{API}/queryAll/", status=401, json=expired)
    add_token(access=ACCESS_2)
    with pytest.raises(AuthError, match="after re-authenticating"):
        next(client.query_pages("SELECT Id FROM Opportunity"))
    assert client.usage.calls == {"token": 2, "queryAll": 2}


def test_a_query_cursor_lost_with_its_session_stops_the_run_as_transient(client):
    next_path = "/services/data/v62.0/queryAll/01gRO0000016PIAYA2-2"
    responses.add(responses.GET, f"{API}/queryAll/", json=page([opp(1)], next_path))
    responses.add(responses.GET, f"{HOST}{next_path}", status=401, json=fixture("error-invalid-session-401.json"))
    add_token(access=ACCESS_2)
    pages = client.query_pages("SELECT Id FROM Opportunity")
    next(pages)
    with pytest.raises(SalesforceUnavailable, match="cursor"):
        next(pages)


# --- lock retries ------------------------------------------------------------------------------------


def test_a_top_level_lock_error_is_retried_with_growing_jittered_backoff(client):
    lock = fixture("error-unable-to-lock-row.json")
    responses.add(responses.PATCH, f"{API}/composite/sobjects", status=400, json=lock)
    responses.add(responses.PATCH, f"{API}/composite/sobjects", status=400, json=lock)
    responses.add(responses.PATCH, f"{API}/composite/sobjects", json=[{"id": "x", "success": True, "errors": []}])
    results = client.update("Opportunity", [{"Id": opp(1)["Id"], "PSA_Project_Id__c": "7"}])
    assert results[0].success
    assert len(client.slept) == 2
    assert 0.5 <= client.slept[0] <= 1.0 and 1.0 <= client.slept[1] <= 2.0


def test_a_lock_that_never_clears_is_salesforce_unavailable(client):
    lock = fixture("error-unable-to-lock-row.json")
    responses.add(responses.PATCH, f"{API}/composite/sobjects", status=400, json=lock)
    with pytest.raises(SalesforceUnavailable, match="UNABLE_TO_LOCK_ROW"):
        client.update("Opportunity", [{"Id": opp(1)["Id"], "PSA_Project_Id__c": "7"}])
    assert client.usage.calls["composite"] == 4 and len(client.slept) == 3


# --- collections -------------------------------------------------------------------------------------


def test_partial_failure_returns_one_result_per_record_in_order(client):
    responses.add(responses.PATCH, f"{API}/composite/sobjects",
                  json=fixture("collections-update-partial-failure.json"))
    ids = [opp(n)["Id"] for n in (1, 2, 3)]
    results = client.update("Opportunity", [{"Id": i, "PSA_Project_Id__c": "9"} for i in ids])
    assert [r.id for r in results] == ids
    assert [r.success for r in results] == [True, False, False]
    assert results[1].errors[0].status_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert results[1].errors[0].message == "Close Date cannot be in the past"
    assert results[2].errors[0].status_code == "ENTITY_IS_DELETED"
    assert not any(r.transient for r in results)


def test_per_record_lock_errors_are_transient_and_validation_errors_are_not():
    from sync.connectors.salesforce_collections import SaveError
    locked = SaveResult("a", False, (SaveError("UNABLE_TO_LOCK_ROW", "busy", ()),))
    invalid = SaveResult("b", False, (SaveError("FIELD_CUSTOM_VALIDATION_EXCEPTION", "no", ()),))
    assert locked.transient and not invalid.transient
    assert not SaveResult("c", True, ()).transient
    assert {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"} <= TRANSIENT_CODES


def test_updates_go_200_a_call_with_type_attributes_and_exact_values(client):
    def answer(request):
        records = json.loads(request.body)["records"]
        return 200, {}, json.dumps([{"id": r["id"], "success": True, "errors": []} for r in records])

    responses.add_callback(responses.PATCH, f"{API}/composite/sobjects", callback=answer)
    records = [{"Id": f"006{n:015d}", "PSA_Hours_Spent__c": Decimal("12345678901234.56"),
                "PSA_Start__c": date(2026, 3, 1), "PSA_Seen__c": datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
                "PSA_Project_Id__c": "42", "PSA_Note__c": None} for n in range(450)]
    results = client.update("Opportunity", records)
    assert len(results) == 450 and all(r.success for r in results)
    bodies = [c.request.body for c in responses.calls[1:]]
    assert [len(json.loads(b)["records"]) for b in bodies] == [200, 200, 50]
    first = json.loads(bodies[0])
    assert first["allOrNone"] is False
    assert first["records"][0] == {"attributes": {"type": "Opportunity"}, "id": "006000000000000000",
                                   "PSA_Hours_Spent__c": 12345678901234.56, "PSA_Start__c": "2026-03-01",
                                   "PSA_Seen__c": "2026-03-01T09:30:00.000Z", "PSA_Project_Id__c": "42",
                                   "PSA_Note__c": None}
    assert '"PSA_Hours_Spent__c": 12345678901234.56,' in bodies[0]  # a JSON number, digit for digit
    assert client.usage.calls["composite"] == 3


def test_no_records_means_no_call(client):
    assert client.update("Opportunity", []) == []
    assert client.usage.total == 0


def test_a_result_count_that_does_not_match_is_salesforce_unavailable(client):
    responses.add(responses.PATCH, f"{API}/composite/sobjects", json=[{"id": "x", "success": True, "errors": []}])
    with pytest.raises(SalesforceUnavailable, match="2 records with 1 results"):
        client.update("Opportunity", [{"Id": "006000000000001AAA"}, {"Id": "006000000000002AAA"}])


@pytest.mark.parametrize("record,problem", [
    ({"PSA_Project_Id__c": "1"}, ValueError),
    ({"Id": "006000000000001AAA", "When__c": datetime(2026, 1, 1)}, ValueError),
    ({"Id": "006000000000001AAA", "Blob__c": object()}, TypeError),
    ({"Id": "006000000000001AAA", "N__c": Decimal("NaN")}, ValueError),
])
def test_records_that_cannot_be_sent_are_refused_before_any_call(client, record, problem):
    with pytest.raises(problem):
        client.update("Opportunity", [record])
    assert client.usage.total == 0


def test_a_bad_object_name_never_reaches_a_url(client):
    with pytest.raises(ConfigError):
        client.update("Opportunity/../../x", [{"Id": "006000000000001AAA"}])


# --- describe ----------------------------------------------------------------------------------------


def test_describe_returns_the_object_description(client):
    responses.add(responses.GET, f"{API}/sobjects/Opportunity/describe",
                  json={"name": "Opportunity", "fields": [{"name": "Id"}]})
    assert client.describe("Opportunity")["name"] == "Opportunity"
    assert client.usage.calls["describe"] == 1


def test_describe_of_an_unknown_object_is_a_config_error(client):
    responses.add(responses.GET, f"{API}/sobjects/Nope__c/describe", status=404,
                  json=_error("NOT_FOUND", "The requested resource does not exist"))
    with pytest.raises(ConfigError, match="not found"):
        client.describe("Nope__c")


# --- the API budget ----------------------------------------------------------------------------------


@responses.activate
def test_the_run_stops_before_passing_its_own_call_cap(rsa_key, session):
    add_token()
    responses.add(responses.GET, f"{API}/queryAll/", json=page([]))
    client = SalesforceClient(make_config("jwt", rsa_key[0]), session, max_calls_per_run=2, now=lambda: NOW)
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
    responses.add(responses.GET, f"{API}/queryAll/", status=400, json=_error("MALFORMED_QUERY"),
                  headers=limit(14000))
    with pytest.raises(ConfigError):
        next(client.query_pages("SELECT"))
    assert (client.usage.org_used, client.usage.org_max) == (14000, 15000)
    assert not client.budget_left()


def test_below_both_limits_the_budget_is_left(client):
    responses.add(responses.GET, f"{API}/queryAll/", json=page([]), headers=limit(11999))
    list(client.query_pages("SELECT Id FROM Opportunity"))
    assert client.budget_left()


@pytest.mark.parametrize("method,path,endpoint", [
    ("POST", "/services/oauth2/token", "token"),
    ("GET", "/services/data/v62.0/query/?q=SELECT+Id", "query"),
    ("GET", "/services/data/v62.0/queryAll?q=x", "queryAll"),
    ("GET", "/services/data/v62.0/queryAll/01gRO-2000", "queryMore"),
    ("PATCH", "/services/data/v62.0/composite/sobjects", "composite"),
    ("GET", "/services/data/v62.0/sobjects/Opportunity/describe/", "describe"),
    ("GET", "/services/data/v62.0/sobjects/Opportunity/006000000000001AAA", "sobject"),
    ("GET", "/services/data/v62.0/limits/", "limits"),
    ("GET", "/favicon.ico", "other"),
])
def test_calls_are_counted_under_their_endpoint_name(method, path, endpoint):
    assert endpoint_of(method, path) == endpoint


# --- secrets -----------------------------------------------------------------------------------------


@responses.activate
def test_no_secret_reaches_a_log_line_or_an_exception(rsa_key, session, caplog):
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    for flow in ("jwt", "client_credentials", "password"):
        responses.add(responses.POST, TOKEN_URL, status=400,
                      json={"error": "invalid_grant", "error_description": "authentication failure"})
        with pytest.raises(AuthError) as caught:
            SalesforceClient(make_config(flow, rsa_key[0]), session).connect()
        texts.append(str(caught.value))
        responses.reset()
    add_token()
    responses.add(responses.GET, f"{API}/queryAll/", status=401, json=fixture("error-invalid-session-401.json"))
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
