"""The Redmine connector's people: users found by exact e-mail, roles by name, memberships added or
extended (never replaced), and per-project trouble as an outcome, with canned HTTP answers."""

from __future__ import annotations

import json

from responses import matchers

from sync.connectors.psa.base import Member
from tests.unit.connectors.redmine.canned import REF, URL
from tests.unit.connectors.redmine.conftest import fields_unread

ROLES = {
    "roles": [
        {"id": 3, "name": "Manager"},
        {"id": 4, "name": "Developer"},
        {"id": 5, "name": "Reporter"},
    ]
}
MEMBERSHIPS = f"{URL}/projects/{REF.id}/memberships.json"


def test_users_are_matched_by_exact_email_ignoring_case_not_by_substring(rsps, psa):
    fields_unread(rsps)
    rsps.get(
        f"{URL}/users.json",
        match=[matchers.query_param_matcher({"name": "ann@example.com", "limit": "100"})],
        json={
            "users": [{"id": 8, "mail": "joann@example.com"}, {"id": 9, "mail": "Ann@Example.com"}],
            "total_count": 2,
        },
    )
    rsps.get(
        f"{URL}/users.json",
        match=[matchers.query_param_matcher({"name": "nobody@example.com", "limit": "100"})],
        json={"users": [], "total_count": 0},
    )
    assert psa.users_by_email(["ANN@example.com ", "nobody@example.com", ""]) == {
        "ann@example.com": 9
    }
    assert psa.users_by_email(["ann@example.com"]) == {"ann@example.com": 9}
    assert (
        len([c for c in rsps.calls if "/users.json" in c.request.url]) == 2
    )  # a found user is asked once


def test_a_new_member_is_posted_and_an_existing_one_gets_the_role_added(rsps, psa):
    fields_unread(rsps)
    rsps.get(f"{URL}/roles.json", json=ROLES)
    rsps.get(
        MEMBERSHIPS,
        json={
            "memberships": [
                {"id": 40, "user": {"id": 12}, "roles": [{"id": 5}, {"id": 3, "inherited": True}]}
            ],
            "total_count": 1,
        },
    )
    rsps.post(MEMBERSHIPS, status=201, json={"membership": {"id": 41}})
    rsps.put(f"{URL}/memberships/40.json", status=204)
    result = psa.set_members(REF, [Member(11, "Manager"), Member(12, "developer")])
    assert result.outcome == "updated"
    posted = json.loads(next(c for c in rsps.calls if c.request.method == "POST").request.body)
    put = json.loads(next(c for c in rsps.calls if c.request.method == "PUT").request.body)
    assert posted == {"membership": {"user_id": 11, "role_ids": [3]}}
    assert put == {
        "membership": {"role_ids": [5, 4]}
    }  # the role held kept, the inherited one left to Redmine


def test_a_member_who_already_has_the_role_costs_no_write(rsps, psa):
    fields_unread(rsps)
    rsps.get(f"{URL}/roles.json", json=ROLES)
    rsps.get(
        MEMBERSHIPS,
        json={
            "memberships": [{"id": 40, "user": {"id": 11}, "roles": [{"id": 3}]}],
            "total_count": 1,
        },
    )
    assert psa.set_members(REF, [Member(11, "Manager")]).outcome == "unchanged"
    assert all(c.request.method == "GET" for c in rsps.calls)


def test_an_unknown_role_fails_the_project_naming_the_roles_there_are(rsps, psa):
    fields_unread(rsps)
    rsps.get(f"{URL}/roles.json", json=ROLES)
    result = psa.set_members(REF, [Member(11, "Delivery Lead")])
    assert result.outcome == "failed"
    assert result.error.startswith(
        "Redmine has no role Delivery Lead (its roles: developer, manager, reporter)"
    )


def test_a_refused_or_unanswered_membership_is_an_outcome_not_an_exception(rsps, psa):
    fields_unread(rsps)
    rsps.get(f"{URL}/roles.json", json=ROLES)
    rsps.get(MEMBERSHIPS, json={"memberships": [], "total_count": 0})
    rsps.post(MEMBERSHIPS, status=422, json={"errors": ["User is invalid"]})
    failed = psa.set_members(REF, [Member(11, "Manager")])
    assert failed.outcome == "failed" and "User is invalid" in failed.error
    rsps.replace("POST", MEMBERSHIPS, status=503)
    assert psa.set_members(REF, [Member(11, "Manager")]).outcome == "unknown"
