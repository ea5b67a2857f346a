"""A project's plan in a real Redmine: versions and issues with keys, read back, never redone."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from sync.common.model import Outcome
from sync.common.structure import Child, ChildKind
from sync.connectors.psa.base import NewProject
from sync.connectors.psa.redmine.connector import RedmineConnector
from tests.fixtures.redmine import CountingSession, deal_fields

pytestmark = pytest.mark.integration

KEY = "006AK00000StRuCQAA"
PHASE = Child(f"{KEY}/t:discovery", ChildKind.PHASE, "Discovery", due=dt.date(2026, 2, 15))
WORKSHOP = Child(
    f"{KEY}/t:workshop",
    ChildKind.TASK,
    "Kick-off workshop",
    phase=PHASE.key,
    hours=Decimal("12.5"),
    role="Consultant",
    start=dt.date(2026, 2, 2),
    due=dt.date(2026, 2, 6),
)
TRAINING = Child(
    f"{KEY}/li:00kAK000001AbCdQAA",
    ChildKind.TASK,
    "Admin training",
    hours=Decimal("16"),
    role="Trainer",
    due=dt.date(2026, 3, 1),
)


@pytest.fixture
def session():
    with CountingSession() as s:
        yield s


@pytest.fixture
def psa(redmine, session) -> RedmineConnector:
    return RedmineConnector(
        redmine.env.url, redmine.env.api_key, session=session, write_concurrency=1
    )


def project(psa, key=KEY):
    [result] = psa.create([NewProject(key, deal_fields())])
    assert result.outcome == Outcome.CREATED, result
    return result.ref


def plan(psa, ref):
    [phase] = psa.create_children(ref, [PHASE], {})
    assert phase.outcome == Outcome.CREATED and phase.error is None, phase
    tasks = psa.create_children(ref, [WORKSHOP, TRAINING], {PHASE.key: phase.ref})
    assert [t.outcome for t in tasks] == [Outcome.CREATED, Outcome.CREATED] and not any(
        t.error for t in tasks
    )
    return phase.ref, [t.ref for t in tasks]


def test_phases_become_versions_and_tasks_issues_as_the_plan_says(psa, redmine):
    ref = project(psa)
    phase, (workshop, training) = plan(psa, ref)
    version = redmine.call("GET", f"/versions/{phase.id}.json").json()["version"]
    assert (version["name"], version["due_date"], version["status"]) == (
        "Discovery",
        "2026-02-15",
        "open",
    )
    issue = redmine.call("GET", f"/issues/{workshop.id}.json").json()["issue"]
    assert (issue["subject"], issue["estimated_hours"], issue["start_date"], issue["due_date"]) == (
        "Kick-off workshop",
        12.5,
        "2026-02-02",
        "2026-02-06",
    )
    assert issue["fixed_version"]["id"] == phase.id and issue["tracker"]["name"] == "Feature"
    values = {cf["name"]: cf["value"] for cf in issue["custom_fields"]}
    assert values == {"psa-sync key": WORKSHOP.key, "Role": "Consultant"}
    assert "fixed_version" not in redmine.call("GET", f"/issues/{training.id}.json").json()["issue"]


def test_children_are_found_by_key_in_their_own_project_only(psa):
    ref, other = project(psa), project(psa, "006AK00000OtHeRQAA")
    phase, (workshop, _) = plan(psa, ref)
    found = psa.find_children(ref, [PHASE.key, WORKSHOP.key, f"{KEY}/t:absent"])
    assert {k: [c.id for c in v] for k, v in found.items()} == {
        PHASE.key: [phase.id],
        WORKSHOP.key: [workshop.id],
    }
    assert psa.find_children(other, [PHASE.key, WORKSHOP.key]) == {}


def test_a_tracker_the_project_lacks_is_swapped_by_redmine_and_reported(psa, redmine):
    ref = project(psa)
    redmine.call("PUT", f"/projects/{ref.id}.json", {"project": {"tracker_ids": [1]}})  # Bug only
    [result] = psa.create_children(ref, [TRAINING], {})
    assert result.outcome == Outcome.CREATED and result.ref is not None  # it exists, with our key
    assert "tracker 'Bug' instead of 'Feature'" in result.error
    assert list(psa.find_children(ref, [TRAINING.key])) == [TRAINING.key]


def test_progress_reads_done_tasks_hours_logged_and_a_phases_totals(psa, redmine):
    ref = project(psa)
    phase, (workshop, training) = plan(psa, ref)
    redmine.log_time(ref.id, 3.5, issue_id=workshop.id)
    redmine.call("PUT", f"/issues/{training.id}.json", {"issue": {"status_id": 5}})
    progress = {c.ref.key: c for c in psa.children([ref])[ref.id]}
    assert (progress[WORKSHOP.key].spent_hours, progress[WORKSHOP.key].done) == (
        Decimal("3.5"),
        False,
    )
    assert progress[TRAINING.key].done and progress[TRAINING.key].estimated_hours == Decimal("16")
    assert (progress[PHASE.key].estimated_hours, progress[PHASE.key].spent_hours) == (
        Decimal("12.5"),
        Decimal("3.5"),
    )


def test_a_flag_is_a_note_and_an_estimate_moves_but_nothing_a_person_did_is_undone(psa, redmine):
    ref = project(psa)
    _, (workshop, _) = plan(psa, ref)
    redmine.call(
        "PUT", f"/issues/{workshop.id}.json", {"issue": {"subject": "Workshop (re-planned)"}}
    )
    [flagged] = psa.flag_children(
        [workshop], "The line item of this task was removed from the deal."
    )
    [moved] = psa.set_estimates([(workshop, Decimal("20"))])
    assert flagged.outcome == moved.outcome == Outcome.UPDATED
    issue = redmine.call("GET", f"/issues/{workshop.id}.json", include="journals").json()["issue"]
    assert issue["subject"] == "Workshop (re-planned)" and issue["estimated_hours"] == 20.0
    assert any("removed from the deal" in (j.get("notes") or "") for j in issue["journals"])


def test_check_sees_trackers_roles_and_a_tracker_that_does_not_exist(redmine, session):
    good = RedmineConnector(redmine.env.url, redmine.env.api_key, session=session).structure_spec()
    assert (
        "Feature" in good.trackers and good.roles is None and good.problems == ()
    )  # Role: free text
    bad = RedmineConnector(
        redmine.env.url,
        redmine.env.api_key,
        session=session,
        task_tracker="Task",
        child_key_field="No such field",
    ).structure_spec()
    assert any("no tracker 'Task'" in p for p in bad.problems)
    assert any("no issue custom field named 'No such field'" in p for p in bad.problems)


def test_a_plan_costs_one_post_per_child_and_the_sites_facts_once(psa, session):
    ref = project(psa)
    session.calls.clear()
    plan(psa, ref)
    posts = {k: v for k, v in session.calls.items() if k[0] == "POST"}
    assert posts == {("POST", f"/projects/{ref.id}/versions.json"): 1, ("POST", "/issues.json"): 2}
    assert (
        sum(v for k, v in session.calls.items() if k[0] == "GET") == 3
    )  # fields, trackers, statuses
