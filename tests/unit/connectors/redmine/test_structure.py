"""The Redmine connector's plan below a project, where Redmine quietly does something else, with
canned answers in Redmine 5.0's shapes (the real Redmine cannot be made to drop a key on demand)."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from sync.common.model import Outcome
from sync.common.structure import Child, ChildKind
from sync.connectors.psa.base import ProjectRef
from sync.connectors.psa.redmine.connector import RedmineConnector
from tests.unit.connectors.redmine.canned import API_KEY, URL

PROJECT = ProjectRef(
    7, "sf-006ak00000abcdeqaa", "006AK00000AbCdEQAA", f"{URL}/projects/sf-x", "active"
)
TASK = Child("006AK00000AbCdEQAA/li:00kAK000001AbCdQAA", ChildKind.TASK, "Training", role="Trainer")
FIELDS = {
    "custom_fields": [
        {
            "id": 10,
            "name": "psa-sync key",
            "customized_type": "issue",
            "field_format": "string",
            "trackers": [{"id": 2, "name": "Feature"}],
        },
        {"id": 11, "name": "Role", "customized_type": "issue", "field_format": "string"},
        {"id": 12, "name": "psa-sync key", "customized_type": "version", "field_format": "string"},
    ]
}


def issue(custom_fields, tracker=(2, "Feature")):
    return {
        "issue": {
            "id": 31,
            "project": {"id": 7},
            "tracker": {"id": tracker[0], "name": tracker[1]},
            "status": {"id": 1},
            "subject": "Training",
            "estimated_hours": None,
            "custom_fields": custom_fields,
        }
    }


@pytest.fixture
def site():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.get(f"{URL}/custom_fields.json", json=FIELDS)
        mock.get(
            f"{URL}/trackers.json",
            json={"trackers": [{"id": 1, "name": "Bug"}, {"id": 2, "name": "Feature"}]},
        )
        mock.get(
            f"{URL}/issue_statuses.json",
            json={"issue_statuses": [{"id": 1, "is_closed": False}, {"id": 5, "is_closed": True}]},
        )
        yield mock


@pytest.fixture
def psa():
    return RedmineConnector(URL + "/", API_KEY, session=requests.Session(), write_concurrency=1)


def test_a_task_whose_key_redmine_dropped_is_deleted_at_once_and_fails_saying_what_to_fix(
    site, psa
):
    site.post(f"{URL}/issues.json", status=201, json=issue([{"id": 11, "value": "Trainer"}]))
    site.delete(f"{URL}/issues/31.json", status=204)
    [result] = psa.create_children(PROJECT, [TASK], {})
    assert result.outcome == Outcome.FAILED and result.ref is None
    assert "dropped the 'psa-sync key' value" in result.error and "Enable the field" in result.error
    [post] = [c for c in site.calls if c.request.method == "POST"]
    sent = json.loads(post.request.body)["issue"]
    assert sent["custom_fields"] == [{"id": 10, "value": TASK.key}, {"id": 11, "value": "Trainer"}]


def test_a_dropped_role_leaves_a_findable_task_and_says_so(site, psa):
    site.post(f"{URL}/issues.json", status=201, json=issue([{"id": 10, "value": TASK.key}]))
    [result] = psa.create_children(PROJECT, [TASK], {})
    assert result.outcome == Outcome.CREATED and result.ref.id == 31
    assert "no 'Role' value" in result.error


def test_a_refusal_is_a_failure_with_redmines_words(site, psa):
    site.post(
        f"{URL}/issues.json",
        status=422,
        json={"errors": ["Due date must be greater than start date"]},
    )
    [result] = psa.create_children(PROJECT, [TASK], {})
    assert (result.outcome, result.error) == (
        Outcome.FAILED,
        "Due date must be greater than start date",
    )


def test_a_create_never_confirmed_nor_found_is_unknown_after_three_tries(site, psa, monkeypatch):
    monkeypatch.setattr("sync.connectors.psa.redmine.structure.CREATE_BACKOFF_SECONDS", 0)
    for _ in range(3):
        site.post(f"{URL}/issues.json", status=503)
        site.get(f"{URL}/projects/7/versions.json", json={"versions": []})
        site.get(f"{URL}/issues.json", json={"issues": [], "total_count": 0})
    [result] = psa.create_children(PROJECT, [TASK], {})
    assert result.outcome == Outcome.UNKNOWN and "not found by its key" in result.error
    assert sum(c.request.method == "POST" for c in site.calls) == 3


def test_a_version_shared_in_from_another_project_is_not_a_child(site, psa):
    mine = {
        "id": 1,
        "project": {"id": 7},
        "name": "Discovery",
        "status": "open",
        "custom_fields": [{"id": 12, "value": "006AK00000AbCdEQAA/t:disc"}],
    }
    shared = {**mine, "id": 2, "project": {"id": 99}}
    site.get(f"{URL}/projects/7/versions.json", json={"versions": [mine, shared]})
    site.get(f"{URL}/issues.json", json={"issues": [], "total_count": 0})
    found = psa.find_children(PROJECT, ["006AK00000AbCdEQAA/t:disc"])
    assert [c.id for c in found["006AK00000AbCdEQAA/t:disc"]] == [1]


def test_a_create_answered_500_after_it_committed_is_found_by_its_key_not_made_twice(
    site, psa, monkeypatch
):
    monkeypatch.setattr("sync.connectors.psa.redmine.structure.CREATE_BACKOFF_SECONDS", 0)
    made = issue([{"id": 10, "value": TASK.key}, {"id": 11, "value": "Trainer"}])["issue"]
    site.post(f"{URL}/issues.json", status=500)
    site.get(f"{URL}/projects/7/versions.json", json={"versions": []})
    site.get(f"{URL}/issues.json", json={"issues": [made], "total_count": 1})
    [result] = psa.create_children(PROJECT, [TASK], {})
    assert (result.outcome, result.ref.id) == (Outcome.EXISTS, 31)
    assert sum(c.request.method == "POST" for c in site.calls) == 1


def test_check_names_a_role_the_structure_gives_that_redmines_role_list_lacks():
    """Redmine's "Role" made a list (Administration > Custom fields): a task role outside it would
    be refused with 422 at run time, so `check` names it first, with the values the field takes."""
    from sync.mapping.loader import load_mapping
    from sync.ops.check.runner import CheckResult, Findings
    from sync.ops.check.structure import check_structure_psa
    from tests.fixtures.sync import ROOT

    listed = {
        "id": 11,
        "name": "Role",
        "customized_type": "issue",
        "field_format": "list",
        "possible_values": [{"value": "Consultant"}, {"value": "Project Manager"}],
    }
    fields = {
        "custom_fields": [listed if f["name"] == "Role" else f for f in FIELDS["custom_fields"]]
    }
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.get(f"{URL}/custom_fields.json", json=fields)
        mock.get(f"{URL}/trackers.json", json={"trackers": [{"id": 2, "name": "Feature"}]})
        mock.get(
            f"{URL}/issue_statuses.json", json={"issue_statuses": [{"id": 5, "is_closed": True}]}
        )
        result = CheckResult(offline=False)
        psa = RedmineConnector(URL + "/", API_KEY, session=requests.Session())
        check_structure_psa(
            psa, load_mapping(ROOT / "mappings" / "examples" / "structure.yaml"), Findings(result)
        )
    errors = [(f.message, f.exit_code) for f in result.findings if f.level == "ERROR"]
    assert errors == [("role 'Trainer': the PSA's role field takes Consultant, Project Manager", 2)]
