"""The Redmine connector's creates, updates and lifecycle changes, with canned HTTP answers."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
import requests

from sync.common.errors import ConfigError, PsaUnavailable
from sync.connectors.psa.base import ProjectChange
from sync.connectors.psa.redmine.writes import CREATE_ATTEMPTS
from tests.unit.connectors.redmine.canned import API_KEY, IDENT, KEY, REF, URL, new, posts, project
from tests.unit.connectors.redmine.conftest import fields_unread

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
    assert (result.outcome, result.error) == (
        "failed",
        "Billing type cannot be blank; Name cannot be blank",
    )


def test_a_taken_identifier_is_adopted_with_its_typed_values(rsps, psa):
    rsps.post(
        f"{URL}/projects.json", status=422, json={"errors": ["Identifier has already been taken"]}
    )
    rsps.get(f"{URL}/projects/{IDENT}.json", json={"project": project()})
    [result] = psa.create([new()])
    assert result.outcome == "exists" and result.ref == REF
    assert (
        result.values["budget"] == Decimal("125000.50")
        and result.values["percent_complete"] is None
    )


def test_a_taken_identifier_carrying_another_key_is_not_adopted(rsps, psa):
    rsps.post(
        f"{URL}/projects.json", status=422, json={"errors": ["Identifier has already been taken"]}
    )
    rsps.get(f"{URL}/projects/{IDENT}.json", json={"project": project(key="006AK00000OtHeRQAA")})
    [result] = psa.create([new()])
    assert result.outcome == "failed" and "006AK00000OtHeRQAA" in result.error


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
    rsps.post(
        f"{URL}/projects.json", status=422, json={"errors": ["Identifier has already been taken"]}
    )
    rsps.get(f"{URL}/projects/{IDENT}.json", status=403)
    [result] = psa.create([new()])
    assert result.outcome == "failed" and "archived" in result.error


# --- updates and lifecycle --------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, outcome",
    [
        (204, "updated"),
        (403, "closed"),
        (404, "failed"),
        (422, "failed"),
        (500, "unknown"),
        (503, "unknown"),
    ],
)
def test_update_outcomes_follow_the_status(rsps, psa, status, outcome):
    body = {"errors": ["Budget is invalid"]} if status == 422 else None
    rsps.put(f"{URL}/projects/7.json", status=status, json=body)
    [result] = psa.update([ProjectChange(REF, {"budget": Decimal("1E+3")})])
    assert result.outcome == outcome
    assert json.loads(rsps.calls[-1].request.body) == {
        "project": {"custom_fields": [{"id": 3, "value": "1000"}]}
    }
    if status == 422:
        assert result.error == "Budget is invalid"


def test_update_sends_native_fields_and_blanks_for_none(rsps, psa):
    rsps.put(f"{URL}/projects/7.json", status=204)
    psa.update([ProjectChange(REF, {"name": "New", "description": None})])
    assert json.loads(rsps.calls[-1].request.body) == {
        "project": {"name": "New", "description": ""}
    }


def test_a_field_with_no_place_in_redmine_is_a_config_error(rsps, psa):
    with pytest.raises(ConfigError, match="'salesforce_status' has no place in Redmine"):
        psa.update([ProjectChange(REF, {"salesforce_status": "Lost"})])


def test_lifecycle_puts_close_and_reopen_and_never_archives(rsps, psa):
    fields_unread(rsps)
    rsps.put(f"{URL}/projects/7/close.json", status=204)
    rsps.put(f"{URL}/projects/7/reopen.json", status=204)
    [result] = psa.set_lifecycle([REF], "close")
    assert result.outcome == "updated" and result.ref.status == "closed"
    [result] = psa.set_lifecycle([REF], "reopen")
    assert result.outcome == "updated" and result.ref.status == "active"
    with pytest.raises(ValueError):
        psa.set_lifecycle([REF], "archive")
