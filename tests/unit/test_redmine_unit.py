"""The Redmine connector's error handling and value conversion, with canned HTTP answers."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
import requests
import responses
from hypothesis import given
from hypothesis import strategies as st
from responses import matchers

from sync.connectors.psa.base import NewProject, ProjectChange, ProjectRef, get_connector
from sync.connectors.psa.redmine import RedmineConnector
from sync.connectors.psa.redmine_fields import from_redmine, plain_decimal, to_redmine
from sync.connectors.psa.redmine_writes import CREATE_ATTEMPTS
from sync.errors import AuthError, ConfigError, PsaUnavailable

URL = "http://redmine.test"
API_KEY = "s3cr3t-api-key-0123456789abcdef01234567"
KEY = "006AK00000AbCdEQAA"
IDENT = "sf-006ak00000abcdeqaa"


def _cf(cf_id, name, fmt, required=False, values=None):
    body = {"id": cf_id, "name": name, "customized_type": "project", "field_format": fmt, "is_required": required}
    if values:
        body["possible_values"] = [{"value": v, "label": v} for v in values]
    return body


CUSTOM_FIELDS = {
    "custom_fields": [
        _cf(1, "Salesforce Opportunity Id", "string"),
        _cf(2, "Customer", "string"),
        _cf(3, "Budget", "float"),
        _cf(4, "Billing type", "list", True, ["Fixed Fee", "Time & Materials", "Retainer"]),
        _cf(5, "Start date", "date"),
        _cf(6, "End date", "date"),
        _cf(7, "Percent complete", "int"),
        {"id": 9, "name": "Team", "customized_type": "issue", "field_format": "string"},
    ]
}


def project(pid=7, identifier=IDENT, key=KEY, status=1, budget="125000.5", **extra):
    return {
        "id": pid,
        "name": "Acme - Impl",
        "identifier": identifier,
        "description": "",
        "status": status,
        "custom_fields": [
            {"id": 1, "name": "Salesforce Opportunity Id", "value": key},
            {"id": 3, "name": "Budget", "value": budget},
            {"id": 4, "name": "Billing type", "value": "Fixed Fee"},
            {"id": 5, "name": "Start date", "value": "2026-02-01"},
            {"id": 7, "name": "Percent complete", "value": ""},
        ],
        **extra,
    }


REF = ProjectRef(7, IDENT, KEY, f"{URL}/projects/{IDENT}", "active")


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{URL}/custom_fields.json", json=CUSTOM_FIELDS)
        yield mock


@pytest.fixture
def psa():
    return RedmineConnector(URL + "/", API_KEY, session=requests.Session(), write_concurrency=1)


def new(key=KEY, **fields):
    return NewProject(key, {"name": "Acme - Impl", "billing_type": "Fixed Fee", **fields})


# --- creates --------------------------------------------------------------------------------------


def test_a_create_sends_typed_values_as_redmine_strings(rsps, psa):
    rsps.post(f"{URL}/projects.json", status=201, json={"project": project()})
    fields = {"budget": Decimal("125000.50"), "start_date": dt.date(2026, 2, 1), "end_date": None}
    [result] = psa.create([new(**fields)])
    assert result.outcome == "created" and result.ref == REF
    sent = json.loads(rsps.calls[-1].request.body)["project"]
    assert sent["identifier"] == IDENT and sent["is_public"] is False
    assert sorted(sent["custom_fields"], key=lambda c: c["id"]) == [
        {"id": 1, "value": KEY},
        {"id": 3, "value": "125000.50"},
        {"id": 4, "value": "Fixed Fee"},
        {"id": 5, "value": "2026-02-01"},
        {"id": 6, "value": ""},
    ]
    headers = rsps.calls[-1].request.headers
    assert headers["X-Redmine-API-Key"] == API_KEY and headers["Content-Type"] == "application/json"


def test_a_422_fails_the_record_with_every_message_joined(rsps, psa):
    errors = ["Billing type cannot be blank", "Name cannot be blank"]
    rsps.post(f"{URL}/projects.json", status=422, json={"errors": errors})
    rsps.get(f"{URL}/projects/{IDENT}.json", status=404)
    [result] = psa.create([new()])
    assert (result.outcome, result.error) == ("failed", "Billing type cannot be blank; Name cannot be blank")


def test_a_taken_identifier_is_adopted_with_its_typed_values(rsps, psa):
    rsps.post(f"{URL}/projects.json", status=422, json={"errors": ["Identifier has already been taken"]})
    rsps.get(f"{URL}/projects/{IDENT}.json", json={"project": project()})
    [result] = psa.create([new()])
    assert result.outcome == "exists" and result.ref == REF
    assert result.values["budget"] == Decimal("125000.50") and result.values["percent_complete"] is None


def test_a_taken_identifier_carrying_another_key_is_not_adopted(rsps, psa):
    rsps.post(f"{URL}/projects.json", status=422, json={"errors": ["Identifier has already been taken"]})
    rsps.get(f"{URL}/projects/{IDENT}.json", json={"project": project(key="006AK00000OtHeRQAA")})
    [result] = psa.create([new()])
    assert result.outcome == "failed" and "006AK00000OtHeRQAA" in result.error


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr("sync.connectors.psa.redmine_writes.CREATE_BACKOFF_SECONDS", 0)


def posts(rsps) -> int:
    return len([c for c in rsps.calls if c.request.method == "POST"])


def test_a_500_that_committed_is_found_by_its_identifier_and_not_sent_again(rsps, psa):
    rsps.post(f"{URL}/projects.json", status=500, body="SQLite3::BusyException: database is locked")
    rsps.get(f"{URL}/projects/{IDENT}.json", json={"project": project()})
    [result] = psa.create([new()])
    assert (result.outcome, result.ref) == ("exists", REF)
    assert posts(rsps) == 1


def test_a_500_that_did_not_commit_is_sent_again(rsps, psa, no_backoff):
    rsps.post(f"{URL}/projects.json", status=500, body="SQLite3::BusyException: database is locked")
    rsps.post(f"{URL}/projects.json", status=201, json={"project": project()})
    rsps.get(f"{URL}/projects/{IDENT}.json", status=404)
    [result] = psa.create([new()])
    assert result.outcome == "created" and posts(rsps) == 2


def test_repeated_500s_end_in_an_unknown_outcome(rsps, psa, no_backoff):
    rsps.post(f"{URL}/projects.json", status=500)
    rsps.get(f"{URL}/projects/{IDENT}.json", status=404)
    [result] = psa.create([new()])
    assert result.outcome == "unknown" and "HTTP 500" in result.error
    assert posts(rsps) == CREATE_ATTEMPTS


def test_a_create_with_no_answer_is_looked_up_and_never_sent_twice(rsps, psa):
    rsps.post(f"{URL}/projects.json", body=requests.ReadTimeout("slow"))
    rsps.get(f"{URL}/projects/{IDENT}.json", status=404)
    [result] = psa.create([new()])
    assert result.outcome == "unknown" and posts(rsps) == 1


def test_a_timeout_on_create_then_an_unreachable_redmine_raises_with_the_results_so_far(rsps, psa):
    rsps.post(f"{URL}/projects.json", status=201, json={"project": project()})
    rsps.post(f"{URL}/projects.json", body=requests.ConnectTimeout("slow"))
    rsps.get(f"{URL}/projects/sf-006ak00000zzzzzqab.json", body=requests.ConnectionError("refused"))
    with pytest.raises(PsaUnavailable, match="did not answer") as raised:
        psa.create([new(), new(key="006AK00000ZzZzZQAB"), new(key="006AK00000YyYyYQAC")])
    assert [r.outcome for r in raised.value.results] == ["created"]
    assert posts(rsps) == 2  # the third was never sent


def test_an_archived_project_holding_the_identifier_is_named_in_the_failure(rsps, psa):
    rsps.post(f"{URL}/projects.json", status=422, json={"errors": ["Identifier has already been taken"]})
    rsps.get(f"{URL}/projects/{IDENT}.json", status=403)
    [result] = psa.create([new()])
    assert result.outcome == "failed" and "archived" in result.error


# --- updates and lifecycle --------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, outcome",
    [(204, "updated"), (403, "closed"), (404, "failed"), (422, "failed"), (500, "unknown"), (503, "unknown")],
)
def test_update_outcomes_follow_the_status(rsps, psa, status, outcome):
    body = {"errors": ["Budget is invalid"]} if status == 422 else None
    rsps.put(f"{URL}/projects/7.json", status=status, json=body)
    [result] = psa.update([ProjectChange(REF, {"budget": Decimal("1E+3")})])
    assert result.outcome == outcome
    assert json.loads(rsps.calls[-1].request.body) == {"project": {"custom_fields": [{"id": 3, "value": "1000"}]}}
    if status == 422:
        assert result.error == "Budget is invalid"


def test_update_sends_native_fields_and_blanks_for_none(rsps, psa):
    rsps.put(f"{URL}/projects/7.json", status=204)
    psa.update([ProjectChange(REF, {"name": "New", "description": None})])
    assert json.loads(rsps.calls[-1].request.body) == {"project": {"name": "New", "description": ""}}


def test_a_field_with_no_place_in_redmine_is_a_config_error(rsps, psa):
    with pytest.raises(ConfigError, match="'salesforce_status' has no place in Redmine"):
        psa.update([ProjectChange(REF, {"salesforce_status": "Lost"})])


def test_lifecycle_puts_close_and_reopen_and_never_archives(rsps, psa):
    rsps.put(f"{URL}/projects/7/close.json", status=204)
    [result] = psa.set_lifecycle([REF], "close")
    assert result.outcome == "updated" and result.ref.status == "closed"
    with pytest.raises(ValueError):
        psa.set_lifecycle([REF], "archive")


# --- reads ----------------------------------------------------------------------------------------


def test_find_rechecks_keys_because_redmine_ignores_unknown_filters(rsps, psa):
    everything = [project(), project(pid=8, identifier="other", key="006AK00000OtHeRQAA"), project(9, "x", key="")]
    rsps.get(
        f"{URL}/projects.json",
        json={"projects": everything, "total_count": 3},
        match=[matchers.query_param_matcher({"cf_1": f"={KEY}", "status": "1|5", "limit": "100", "offset": "0"})],
    )
    assert psa.find([KEY]) == {KEY: [REF]}


def test_list_linked_pages_until_total_count(rsps, psa):
    psa.http.page_size = 2
    pages = [[project(1, "a"), project(2, "b")], [project(3, "c")]]
    for offset, page in zip((0, 2), pages, strict=True):
        rsps.get(
            f"{URL}/projects.json",
            json={"projects": page, "total_count": 3},
            match=[matchers.query_param_matcher({"offset": str(offset)}, strict_match=False)],
        )
    assert [r.id for r in psa.list_linked()] == [1, 2, 3]


def test_delivery_sums_hours_exactly(rsps, psa):
    rsps.get(f"{URL}/projects.json", json={"projects": [project(status=5)], "total_count": 1})
    entries = [{"hours": 0.1}, {"hours": 0.2}, {"hours": 7.2}]
    rsps.get(f"{URL}/time_entries.json", json={"time_entries": entries, "total_count": 3})
    delivery = psa.delivery([REF], hours=True)[KEY]
    assert (delivery.status, delivery.spent_hours) == ("closed", Decimal("7.5"))


def test_a_5xx_on_a_read_is_unavailable(rsps, psa):
    rsps.get(f"{URL}/projects.json", status=502)
    with pytest.raises(PsaUnavailable, match="502"):
        psa.find([KEY])


# --- auth and config ------------------------------------------------------------------------------


def test_a_401_is_an_auth_error_without_the_key(psa):
    with responses.RequestsMock() as rsps:
        rsps.get(f"{URL}/custom_fields.json", status=401)
        with pytest.raises(AuthError) as raised:
            psa.describe()
    assert API_KEY not in str(raised.value) and "psa.api_key" in str(raised.value)


def test_a_non_admin_api_user_is_told_to_be_admin(psa):
    with responses.RequestsMock() as rsps:
        rsps.get(f"{URL}/custom_fields.json", status=403)
        with pytest.raises(AuthError, match="administrator"):
            psa.describe()


def test_custom_fields_resolve_once_and_a_missing_default_is_just_absent(rsps, psa):
    specs = psa.describe()
    psa.describe()
    assert len(rsps.calls) == 1
    assert "salesforce_status" not in specs and specs["billing_type"].required


def test_a_missing_key_field_is_a_config_error_saying_what_to_do(psa):
    with responses.RequestsMock() as rsps:
        rsps.get(f"{URL}/custom_fields.json", json={"custom_fields": CUSTOM_FIELDS["custom_fields"][1:]})
        with pytest.raises(ConfigError, match="custom_fields.key: .*'Salesforce Opportunity Id'. Create it"):
            psa.describe()


def test_bad_options_are_reported_together():
    with pytest.raises(ConfigError) as raised:
        RedmineConnector(URL, API_KEY, session=requests.Session(), identifier_prefix="SF_", write_concurrency=0)
    assert len(raised.value.problems) == 2


def test_from_settings_refuses_unknown_options_and_the_registry_unknown_names():
    factory = get_connector("redmine")
    with pytest.raises(ConfigError, match="unknown option"):
        factory(URL, API_KEY, {"concurrency": 2}, requests.Session())
    with pytest.raises(ConfigError, match="unknown connector 'jira'"):
        get_connector("jira")


def test_the_url_is_normalised_for_the_state_guard():
    psa = RedmineConnector("HTTP://Redmine.Example.COM/redmine/", API_KEY, session=requests.Session())
    assert psa.url == "http://redmine.example.com/redmine"


# --- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, fmt, typed",
    [
        ("125000.5", "float", Decimal("125000.50")),
        ("1000", "float", Decimal("1E+3")),
        ("40", "int", 40),
        ("2026-02-01", "date", dt.date(2026, 2, 1)),
        ("1", "bool", True),
        ("", "float", None),
        (None, "date", None),
        ("Fixed Fee", "list", "Fixed Fee"),
        ("not a date", "date", "not a date"),
    ],
)
def test_redmine_strings_become_typed_values(raw, fmt, typed):
    assert from_redmine(raw, fmt) == typed


@pytest.mark.parametrize(
    "typed, raw",
    [
        (Decimal("1E+3"), "1000"),
        (Decimal("0.50"), "0.50"),
        (dt.date(2026, 1, 2), "2026-01-02"),
        (None, ""),
        (False, "0"),
    ],
)
def test_typed_values_become_redmine_strings(typed, raw):
    assert to_redmine(typed) == raw


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12))
def test_a_decimal_survives_the_round_trip_in_canonical_form(value):
    back = from_redmine(to_redmine(value), "float")
    assert back == value and str(back) == str(plain_decimal(value)) and "E" not in str(back)


def test_long_external_keys_are_split_so_no_request_line_passes_webricks_limit(rsps, psa):
    rsps.get(f"{URL}/projects.json", json={"projects": [], "total_count": 0})
    keys = [f"EXT-{n}-" + "x" * 240 for n in range(10)]
    assert psa.find(keys) == {k: [] for k in keys}
    lookups = [c.request.url for c in rsps.calls if "/projects.json" in c.request.url]
    assert len(lookups) == 3 and max(len(u) for u in lookups) < 2083  # 4 + 4 + 2 keys


@responses.activate
def test_hours_of_a_project_deleted_meanwhile_leave_it_out_instead_of_failing_the_run():
    """Regression (issue 6): a 404 on one project's time entries made back-sync exit 3 for everyone."""
    base = "http://redmine.test"
    psa = RedmineConnector(base, "k", session=requests.Session())
    responses.get(f"{base}/time_entries.json", status=404)
    assert psa.spent_hours(42) is None
