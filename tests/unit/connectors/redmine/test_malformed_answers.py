"""Answers Redmine should never give: a proxy's login page with 200, JSON of another shape, a body
cut in the middle. Each stops the run as "Redmine unavailable" (exit 3) naming the endpoint and what
came back, never a traceback, and nothing is taken for done: a create stays ``unknown`` with its
intent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sync.common.errors import PsaUnavailable
from sync.common.model import Create, DesiredRow
from sync.load.projects import LoadContext, LoadReport, create_projects
from sync.state import State
from tests.fixtures.stops import stops_the_run
from tests.unit.connectors.redmine.canned import API_KEY, IDENT, KEY, REF, URL, new, posts, project
from tests.unit.connectors.redmine.conftest import fields_unread

LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in - Corporate SSO</title></head><body>" + "x" * 5000
)
CUT = '{"projects": [{"id": 7, "name": "Acme - Impl", "identif'


def unavailable(call) -> str:
    return stops_the_run(PsaUnavailable, call, never=(API_KEY,))


# --- reads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, said",
    [
        ({"body": LOGIN_PAGE, "content_type": "text/html"}, "is not JSON"),
        ({"body": CUT}, "is not JSON"),
        ({"json": [project()]}, "not an object"),
        ({"json": {"total_count": 1}}, "no 'projects'"),
        ({"json": {"projects": [project(pid="seven")], "total_count": 1}}, "projects[0].id"),
        (
            {"json": {"projects": [{"id": 7, "name": "no identifier"}], "total_count": 1}},
            "'identifier'",
        ),
        (
            {"json": {"projects": [project(custom_fields="none")], "total_count": 1}},
            "custom_fields",
        ),
        ({"json": {"projects": [project()], "total_count": "one"}}, "total_count"),
    ],
)
def test_a_malformed_listing_is_unavailable_naming_the_endpoint_and_what_came_back(
    rsps, psa, answer, said
):
    rsps.get(f"{URL}/projects.json", **answer)
    text = unavailable(lambda: psa.find([KEY]))
    assert "GET /projects.json" in text and said in text
    assert "cf_1" not in text and "GET /projects.json?" not in text  # never the query string


def test_what_came_back_is_shown_cut_short(rsps, psa):
    rsps.get(f"{URL}/projects.json", body=LOGIN_PAGE, content_type="text/html")
    text = unavailable(lambda: psa.find([KEY]))
    assert "200" in text and "Sign in - Corporate SSO" in text and "x" * 250 not in text


def test_a_custom_fields_answer_cut_in_the_middle_is_unavailable(rsps, psa):
    rsps.replace("GET", f"{URL}/custom_fields.json", body='{"custom_fields": [{"id": 1, "na')
    text = unavailable(psa.fields)
    assert "GET /custom_fields.json" in text and '{"custom_fields": [{"id": 1, "na' in text


def test_custom_fields_of_the_wrong_shape_are_unavailable(rsps, psa):
    rsps.replace(
        "GET",
        f"{URL}/custom_fields.json",
        json={"custom_fields": [{"id": "one", "name": "Budget"}]},
    )
    assert "custom_fields[0].id" in unavailable(psa.fields)


def test_time_entries_with_hours_that_are_not_a_number_are_unavailable(rsps, psa):
    fields_unread(rsps)
    rsps.get(
        f"{URL}/time_entries.json", json={"time_entries": [{"hours": "lots"}], "total_count": 1}
    )
    assert "GET /time_entries.json" in unavailable(lambda: psa.spent_hours(7))


def test_a_lookup_answered_with_a_login_page_is_unavailable(rsps, psa):
    rsps.post(
        f"{URL}/projects.json", status=422, json={"errors": ["Identifier has already been taken"]}
    )
    rsps.get(f"{URL}/projects/{IDENT}.json", body=LOGIN_PAGE, content_type="text/html")
    text = unavailable(lambda: psa.create([new()]))
    assert f"GET /projects/{IDENT}.json" in text and "Sign in" in text


# --- creates --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        {"json": {}},
        {"json": {"project": {"id": 7}}},
        {"body": '{"project": {"id'},
        {"body": LOGIN_PAGE, "content_type": "text/html"},
    ],
)
def test_a_201_without_a_project_is_unknown_and_not_sent_again(rsps, psa, answer):
    rsps.post(f"{URL}/projects.json", status=201, **answer)
    rsps.get(f"{URL}/projects/{IDENT}.json", status=404)
    [result] = psa.create([new()])
    assert result.outcome == "unknown" and result.ref is None
    assert "POST /projects.json" in result.error and "201" in result.error
    assert posts(rsps) == 1  # a 201 committed something: never sent twice


def test_a_201_without_a_project_is_adopted_when_the_lookup_finds_it(rsps, psa):
    rsps.post(f"{URL}/projects.json", status=201, body="")
    rsps.get(f"{URL}/projects/{IDENT}.json", json={"project": project()})
    [result] = psa.create([new()])
    assert (result.outcome, result.ref) == ("exists", REF)


def test_a_422_whose_body_is_a_list_still_reads_as_a_failure(rsps, psa):
    rsps.post(f"{URL}/projects.json", status=422, json=["Name cannot be blank"])
    rsps.get(f"{URL}/projects/{IDENT}.json", status=404)
    [result] = psa.create([new()])
    assert (result.outcome, result.error) == ("failed", "HTTP 422")


def test_a_parent_answered_201_without_a_project_is_looked_up(rsps, psa):
    rsps.post(f"{URL}/projects.json", status=201, body="<html>ok</html>")
    rsps.get(f"{URL}/projects/sf-acct-001ak00000acme1aaa.json", status=404)
    with pytest.raises(PsaUnavailable, match="did not confirm the parent project"):
        psa.ensure_parent("001AK00000Acme1AAA", "Acme", {"billing_type": "Fixed Fee"})


def test_through_load_a_201_without_a_project_leaves_the_intent_and_no_link(rsps, psa, tmp_path):
    rsps.get(f"{URL}/projects.json", json={"projects": [], "total_count": 0})
    rsps.post(f"{URL}/projects.json", status=201, body='{"project": {"id": 7, "identifier": "sf-0')
    rsps.get(f"{URL}/projects/{IDENT}.json", status=404)
    row = DesiredRow(
        record_id=KEY,
        key=KEY,
        modstamp=datetime(2026, 3, 1, tzinfo=UTC),
        deleted=False,
        matches=True,
        fields=new().fields,
        record_links={},
    )
    state = State.open(tmp_path / "psa-sync.sqlite")
    try:
        ctx = LoadContext(state=state, psa=psa, run_id=1, writeback={}, on_create=set())
        report = LoadReport()
        create_projects(ctx, [Create(row, "h")], psa.identifier, report)
        assert report.created == [] and list(report.unknown) == [KEY]
        assert state.links([KEY]) == {} and [i.record_id for i in state.intents()] == [KEY]
        assert [e["outcome"] for e in state.events(KEY)] == ["unknown"]
    finally:
        state.close()
