"""The emulator's bodies against real Salesforce bodies (tests/fixtures/salesforce/, each with a
.source.txt naming where it came from): same keys, same JSON types, same formats."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tests.fixtures.emulator import trusting_session
from tests.fixtures.salesforce_bodies import fixture

DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000\Z")


def assert_same_shape(ours, theirs, path="$", extra_keys_ok=False):
    """Same keys (or a superset when allowed), same JSON types, recursively; lists by first item."""
    assert type(ours) is type(theirs) or (ours is None or theirs is None), (
        f"{path}: {ours!r} vs {theirs!r}"
    )
    if isinstance(theirs, dict):
        missing = set(theirs) - set(ours)
        assert not missing, f"{path}: missing keys {missing}"
        if not extra_keys_ok:
            assert set(ours) == set(theirs), f"{path}: extra keys {set(ours) - set(theirs)}"
        for key in theirs:
            assert_same_shape(ours[key], theirs[key], f"{path}.{key}", extra_keys_ok)
    elif isinstance(theirs, list) and theirs and ours:
        assert_same_shape(ours[0], theirs[0], f"{path}[0]", extra_keys_ok)
    elif isinstance(theirs, str) and DATETIME.match(theirs):
        assert DATETIME.match(ours), f"{path}: {ours!r} is not formatted like {theirs!r}"


@pytest.fixture
def http(emulator):
    session = trusting_session(emulator)
    session.headers["Authorization"] = f"Bearer {emulator.issue_token()}"
    return session


def _data(emulator, path):
    return f"{emulator.url}/services/data/v62.0/{path}"


def test_query_page_done(emulator, http):
    emulator.create("Account", Name="Test 1")
    emulator.create("Account", Name="Test 2")
    ours = http.get(_data(emulator, "query/"), params={"q": "SELECT Name FROM Account"}).json()
    theirs = fixture("query-page-done.json")
    assert_same_shape(ours, theirs)
    assert re.fullmatch(
        r"/services/data/v62\.0/sobjects/Account/001\w{15}", ours["records"][0]["attributes"]["url"]
    )


def test_query_page_more(emulator, http):
    emulator.seed(600, seed=1)
    ours = http.get(
        _data(emulator, "query/"),
        params={"q": "SELECT Id FROM Opportunity"},
        headers={"Sforce-Query-Options": "batchSize=500"},
    ).json()
    theirs = fixture("query-page-more-fragment.json")
    assert_same_shape({**ours, "records": []}, theirs)
    assert re.fullmatch(r"/services/data/v62\.0/query/01g\w{15}-500", ours["nextRecordsUrl"])
    assert re.fullmatch(r"/services/data/v\d+\.\d/query/01g\w{15}-\d+", theirs["nextRecordsUrl"])


@pytest.mark.parametrize(
    "name, request_args",
    [
        ("error-malformed-query-400.json", ("query/", {"q": "SELECT q"})),
        (
            "error-invalid-field-400.json",
            ("query/", {"q": "SELECT Id, SF_date__c FROM Opportunity"}),
        ),
    ],
)
def test_query_error_bodies(emulator, http, name, request_args):
    path, params = request_args
    answer = http.get(_data(emulator, path), params=params)
    assert answer.status_code == 400
    theirs = fixture(name)
    assert_same_shape(answer.json(), theirs)
    assert answer.json()[0]["errorCode"] == theirs[0]["errorCode"]


def test_invalid_field_message_layout_matches_salesforce(emulator, http):
    soql = "select Id, Name, SF_date__c from Opportunity"
    ours = http.get(_data(emulator, "query/"), params={"q": soql}).json()[0]["message"]
    theirs = fixture("error-invalid-field-400.json")[0]["message"]
    pattern = (
        r"\n.*\n *\^\nERROR at Row:1:Column:\d+\nNo such column 'SF_date__c' on entity '\w+'\. "
        r"If you are attempting to use a custom field, be sure to append the '__c'"
    )
    assert re.match(pattern, theirs) and re.match(pattern, ours)
    caret_line = ours.split("\n")[2]
    assert caret_line.index("^") == soql.index("SF_date__c")


def test_invalid_session_body(emulator):
    answer = trusting_session(emulator).get(
        _data(emulator, "limits"), headers={"Authorization": "Bearer nope"}
    )
    assert answer.status_code == 401 and answer.json() == fixture("error-invalid-session-401.json")


def test_request_limit_body(emulator, http):
    emulator.set_budget(used=15000)
    answer = http.get(_data(emulator, "limits"))
    assert answer.status_code == 403 and answer.json() == fixture("error-request-limit-403.json")


def test_unable_to_lock_row_body(emulator, http):
    deal = emulator.create("Opportunity", Name="x", StageName="Closed Won", CloseDate="2024-01-01")
    emulator.faults.lock_rows([deal])
    answer = http.patch(
        _data(emulator, f"sobjects/Opportunity/{deal}"), json={"PSA_Status__c": "x"}
    )
    assert answer.status_code == 400
    assert_same_shape(answer.json(), fixture("error-unable-to-lock-row.json"))


def test_collections_partial_failure(emulator, http):
    good = emulator.create("Opportunity", Name="a", StageName="Closed Won", CloseDate="2024-01-01")
    invalid = emulator.create(
        "Opportunity", Name="b", StageName="Closed Won", CloseDate="2024-01-01"
    )
    deleted = emulator.create(
        "Opportunity", Name="c", StageName="Closed Won", CloseDate="2024-01-01"
    )
    emulator.faults.validation_failure([invalid], "Close Date cannot be in the past")
    emulator.delete(deleted)
    records = [
        {"attributes": {"type": "Opportunity"}, "id": i, "PSA_Status__c": "New"}
        for i in (good, invalid, deleted)
    ]
    ours = http.patch(
        _data(emulator, "composite/sobjects"), json={"allOrNone": False, "records": records}
    ).json()
    theirs = fixture("collections-update-partial-failure.json")
    for mine, real in zip(ours, theirs, strict=True):
        assert_same_shape(mine, real)
    assert [r["errors"][0]["statusCode"] for r in ours[1:]] == [
        r["errors"][0]["statusCode"] for r in theirs[1:]
    ]


def test_collections_upsert_result_keys_extend_the_save_result(emulator, http):
    """No upsert collection endpoint (psa-sync never upserts); our SaveResult is its subset."""
    deal = emulator.create("Opportunity", Name="a", StageName="Closed Won", CloseDate="2024-01-01")
    records = [{"attributes": {"type": "Opportunity"}, "id": deal, "PSA_Status__c": "New"}]
    ours = http.patch(_data(emulator, "composite/sobjects"), json={"records": records}).json()[0]
    theirs = fixture("collections-upsert-result.json")[0]
    assert set(theirs) - set(ours) == {"created"}
    assert_same_shape(ours, {k: v for k, v in theirs.items() if k != "created"})


def test_bulk2_error_body_has_the_rest_error_shape(emulator, http):
    """Every REST error we send has the Bulk fixture's shape too (the 412 itself: test_bulk2.py)."""
    answer = http.get(_data(emulator, "query/"), params={"q": ""})
    assert_same_shape(
        [{k: v for k, v in answer.json()[0].items()}], fixture("bulk2-job-not-complete-412.json")
    )


def test_limits(emulator, http):
    ours, theirs = http.get(_data(emulator, "limits/")).json(), fixture("limits.json")
    # the fixture is an older, smaller set;
    # the change event allocation is the one documented key added
    assert set(ours) - set(theirs) == {"DailyDeliveredPlatformEvents"}
    assert_same_shape(ours, theirs, extra_keys_ok=True)
    assert_same_shape(ours["DailyDeliveredPlatformEvents"], theirs["DailyStreamingApiEvents"])


def test_get_updated_and_deleted(emulator, http):
    deal = emulator.create("Opportunity", Name="a", StageName="Closed Won", CloseDate="2024-01-01")
    emulator.delete(deal)
    other = emulator.create("Opportunity", Name="b", StageName="Closed Won", CloseDate="2024-01-01")
    window = {
        "start": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "end": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
    }
    updated = http.get(_data(emulator, "sobjects/Opportunity/updated/"), params=window).json()
    deleted = http.get(_data(emulator, "sobjects/Opportunity/deleted/"), params=window).json()
    assert_same_shape(updated, fixture("getupdated.json"))
    assert_same_shape(deleted, fixture("getdeleted.json"))
    assert updated["ids"] == [other] and deleted["deletedRecords"][0]["id"] == deal


def test_oauth_bodies(emulator):
    session = trusting_session(emulator)
    claims = {
        "iss": emulator.client_id,
        "sub": emulator.username,
        "aud": "https://login.salesforce.com",
        "exp": str(int(time.time()) + 60),
    }
    assertion = jwt.encode(claims, emulator.private_key_file.read_bytes(), algorithm="RS256")
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    token = session.post(
        emulator.token_url, data={"grant_type": grant, "assertion": assertion}
    ).json()
    assert_same_shape(token, fixture("token-jwt-bearer.json"), extra_keys_ok=True)
    password = session.post(
        emulator.token_url,
        data={
            "grant_type": "password",
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
            "username": emulator.username,
            "password": emulator.password,
        },
    ).json()
    assert_same_shape(password, fixture("token-username-password.json"), extra_keys_ok=True)
    for body, real in (
        (token, fixture("token-jwt-bearer.json")),
        (password, fixture("token-username-password.json")),
    ):
        assert re.fullmatch(r"https://[^/]+/id/00D\w+/0\w+", real["id"])
        assert re.fullmatch(r"https://[^/]+/id/00D\w{15}/005\w{15}", body["id"])
    claims["exp"] = str(int(time.time()) - 10)
    stale = jwt.encode(claims, emulator.private_key_file.read_bytes(), algorithm="RS256")
    expired = session.post(emulator.token_url, data={"grant_type": grant, "assertion": stale})
    assert expired.status_code == 400 and expired.json() == fixture(
        "oauth-error-invalid-grant-400.json"
    )
