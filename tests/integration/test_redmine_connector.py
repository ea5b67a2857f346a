"""The Redmine connector against a real Redmine 5.0.4 (scripts/redmine.sh) on loopback."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
import requests

from sync.common.errors import AuthError, ConfigError, PsaUnavailable
from sync.connectors.http import build_session
from sync.connectors.psa.base import NewProject, ProjectChange, get_connector
from sync.connectors.psa.redmine.connector import RedmineConnector
from tests.fixtures.redmine import CountingSession, deal_fields

pytestmark = pytest.mark.integration

KEY = "006AK00000AbCdEQAA"
OTHER = "006AK00000ZzZzZQAB"


@pytest.fixture
def session():
    with CountingSession() as s:
        yield s


@pytest.fixture
def psa(redmine, session) -> RedmineConnector:
    # One write at a time keeps outcomes exact: Redmine on SQLite answers some concurrent writes
    # with 500 "database is locked" (then "exists" may mean "created", see the concurrency test).
    return RedmineConnector(
        redmine.env.url, redmine.env.api_key, session=session, write_concurrency=1
    )


def create_one(psa, key=KEY, **overrides):
    [result] = psa.create([NewProject(key, deal_fields(**overrides))])
    assert result.outcome == "created", result
    return result.ref


def test_the_registry_builds_a_redmine_connector_from_settings(redmine):
    factory = get_connector("redmine")
    psa = factory(
        redmine.env.url + "/", redmine.env.api_key, {"write_concurrency": 1}, requests.Session()
    )
    assert psa.url == redmine.env.url
    assert psa.describe()["billing_type"].allowed == ("Fixed Fee", "Time & Materials", "Retainer")


def test_describe_lists_native_and_custom_fields_with_types(psa):
    specs = psa.describe()
    assert {n: s.type for n, s in specs.items()} == {
        "name": "string",
        "description": "string",
        "customer": "string",
        "budget": "decimal",
        "billing_type": "list",
        "start_date": "date",
        "end_date": "date",
        "percent_complete": "integer",
        "salesforce_status": "list",
        "stage": "list",
    }
    assert specs["stage"].allowed == ("Tentative", "Won", "Lost")
    assert specs["billing_type"].required and not specs["salesforce_status"].required
    assert "key" not in specs


def test_create_with_every_field_reads_back_equal_typed_values(psa, redmine):
    ref = create_one(psa)
    assert ref.identifier == "sf-006ak00000abcdeqaa"
    assert ref.url == f"{redmine.env.url}/projects/sf-006ak00000abcdeqaa"
    assert (ref.key, ref.status, ref.parent_id) == (KEY, "active", None)
    assert psa.read([ref])[KEY] == {**deal_fields(), "key": KEY}
    assert redmine.project(ref.id)["is_public"] is False


def test_create_of_an_existing_identifier_adopts_it_without_a_second_project(psa, redmine):
    ref = create_one(psa)
    redmine.set_custom_value(ref.id, "percent_complete", "40")
    [again] = psa.create([NewProject(KEY, deal_fields(name="Renamed since"))])
    assert again.outcome == "exists"
    assert again.ref == ref
    assert (
        again.values["percent_complete"] == 40
        and again.values["name"] == "Acme Corp - Implementation"
    )
    assert redmine.count() == 1


def test_adopting_a_hand_made_project_without_the_key_gives_it_the_key(psa, redmine):
    redmine.create_project("sf-006ak00000abcdeqaa", "Made by hand")
    [result] = psa.create([NewProject(KEY, deal_fields())])
    assert result.outcome == "exists" and result.ref.key == KEY
    assert [r.identifier for r in psa.find([KEY])[KEY]] == ["sf-006ak00000abcdeqaa"]


@pytest.mark.parametrize(
    "billing_type, message",
    [
        (None, "Billing type cannot be blank"),
        ("Barter", "Billing type is not included in the list"),
    ],
)
def test_an_invalid_billing_type_fails_that_record_with_redmines_message(
    psa, redmine, billing_type, message
):
    results = psa.create(
        [
            NewProject(KEY, deal_fields(billing_type=billing_type)),
            NewProject(OTHER, deal_fields(name="Fine")),
        ]
    )
    assert [(r.key, r.outcome, r.error) for r in results] == [
        (KEY, "failed", message),
        (OTHER, "created", None),
    ]
    assert redmine.count() == 1


def test_update_changes_only_the_given_fields(psa, redmine):
    ref = create_one(psa)
    redmine.set_custom_value(ref.id, "percent_complete", "40")
    [result] = psa.update([ProjectChange(ref, {"budget": Decimal("150000"), "name": "New name"})])
    assert result.outcome == "updated"
    assert psa.read([ref])[KEY] == {
        **deal_fields(budget=Decimal("150000"), name="New name", percent_complete=40),
        "key": KEY,
    }


def test_an_empty_change_costs_no_call(psa, session):
    ref = create_one(psa)
    session.calls.clear()
    assert psa.update([ProjectChange(ref, {})])[0].outcome == "unchanged"
    assert not session.calls


def test_update_of_a_closed_project_is_closed_until_it_is_reopened(psa, redmine):
    ref = create_one(psa)
    redmine.close(ref.id)
    change = ProjectChange(ref, {"budget": Decimal("1")})
    assert psa.update([change])[0].outcome == "closed"
    redmine.reopen(ref.id)
    assert psa.update([change])[0].outcome == "updated"
    assert redmine.custom_value(ref.id, "budget") == "1"


def test_close_and_reopen(psa, redmine):
    ref = create_one(psa)
    [closed] = psa.set_lifecycle([ref], "close")
    assert closed.outcome == "updated" and closed.ref.status == "closed"
    assert redmine.project(ref.id)["status"] == 5
    assert psa.find([KEY])[KEY][0].status == "closed"
    [reopened] = psa.set_lifecycle([closed.ref], "reopen")
    assert reopened.ref.status == "active" and redmine.project(ref.id)["status"] == 1


def test_find_returns_the_project_and_its_hand_copy(psa, redmine):
    ref = create_one(psa)
    create_one(psa, key=OTHER)
    copy = redmine.copy(ref.id, "acme-copy")
    found = psa.find([KEY, OTHER, "006AK00000NoSuchQAA"])
    assert sorted(r.identifier for r in found[KEY]) == ["acme-copy", ref.identifier]
    assert [r.id for r in found[KEY] if r.identifier == psa.identifier(KEY)] == [ref.id]
    assert {r.id for r in found[KEY]} == {ref.id, copy["id"]}
    assert len(found[OTHER]) == 1 and found["006AK00000NoSuchQAA"] == []


def test_find_checks_many_keys_per_call(psa, session):
    create_one(psa)
    keys = [KEY] + [f"006AK0000{n:05d}XQAA" for n in range(119)]
    session.calls.clear()
    found = psa.find(keys)
    assert len(found[KEY]) == 1 and sum(map(len, found.values())) == 1
    assert session.calls[("GET", "/projects.json")] == 3  # 120 keys, 50 a call


def test_list_linked_pages_through_every_keyed_project(psa, redmine, session):
    refs = [create_one(psa, key=f"006AK0000{n:05d}XQAA") for n in range(5)]
    redmine.create_project("not-linked", "No key")
    psa.http.page_size = 2
    session.calls.clear()
    assert sorted(r.id for r in psa.list_linked()) == sorted(r.id for r in refs)
    assert session.calls[("GET", "/projects.json")] == 3


def test_delivery_reports_status_percent_and_summed_hours(psa, redmine, session):
    ref = create_one(psa)
    other = create_one(psa, key=OTHER)
    redmine.set_custom_value(ref.id, "percent_complete", "40")
    for hours in (5, 2.25, 0.25):
        redmine.log_time(ref.id, hours)
    psa.http.page_size = 2  # walk real pages of time entries
    session.calls.clear()
    delivery = psa.delivery([ref, other], hours=True)
    assert delivery[KEY].status == "active" and delivery[KEY].percent_complete == 40
    assert delivery[KEY].spent_hours == Decimal("7.5")
    assert delivery[OTHER].spent_hours == Decimal("0") and delivery[OTHER].percent_complete is None
    assert session.calls[("GET", "/time_entries.json")] == 3  # 2 pages + 1 for the empty project

    redmine.close(ref.id)
    session.calls.clear()
    assert psa.delivery([ref], hours=False)[KEY].status == "closed"
    assert psa.delivery([ref], hours=False)[KEY].spent_hours is None
    assert session.calls == Counter({("GET", "/projects.json"): 2})


def test_a_value_typed_by_hand_compares_equal_after_read(psa, redmine):
    ref = create_one(psa)
    redmine.set_custom_value(ref.id, "budget", "125000.5")
    assert psa.read([ref])[KEY]["budget"] == Decimal("125000.50")
    assert str(psa.read([ref])[KEY]["budget"]) == "125000.5"


def test_concurrent_creates_make_exactly_one_project_each(redmine):
    # The session a run builds (http.retries: 5): concurrent writes make Redmine on SQLite answer
    # some requests, GETs too, 500 "database is locked", which the run's policy retries; a bare
    # requests.Session() has no retries, so a create's look-up raised on such a 500.
    session = build_session(ca_bundle=None, timeout=30, retries=5)
    psa = RedmineConnector(
        redmine.env.url, redmine.env.api_key, session=session, write_concurrency=3
    )
    rows = [NewProject(f"006AK0000{n:05d}XQAA", deal_fields(name=f"Deal {n}")) for n in range(12)]
    results = psa.create(rows + rows[:3])
    # "exists" too for a first create: a 500 ("database is locked") can hide a commit
    assert {r.outcome for r in results} <= {"created", "exists"}
    assert [r.key for r in results] == [r.key for r in rows + rows[:3]]
    ids_per_key = {k: {r.ref.id for r in results if r.key == k} for k in {r.key for r in rows}}
    assert all(len(ids) == 1 for ids in ids_per_key.values())
    assert redmine.count() == 12


def test_parent_project_per_account_is_found_or_created_once(redmine):
    psa = RedmineConnector(
        redmine.env.url, redmine.env.api_key, session=requests.Session(), customer="parent_project"
    )
    parent = psa.ensure_parent("001AK00000AcMeQAA", "Acme Corp", {"billing_type": "Retainer"})
    assert parent.identifier == "sf-acct-001ak00000acmeqaa"
    fresh = RedmineConnector(redmine.env.url, redmine.env.api_key, session=requests.Session())
    assert fresh.ensure_parent("001AK00000AcMeQAA", "Acme Corp").id == parent.id
    rows = [NewProject(k, deal_fields(), parent=parent) for k in (KEY, OTHER)]
    assert [r.ref.parent_id for r in psa.create(rows)] == [parent.id, parent.id]
    assert sorted(r.key for r in psa.list_linked()) == sorted([KEY, OTHER])  # the parent is no deal
    assert redmine.count() == 3


def test_a_custom_field_named_in_the_config_must_exist(redmine):
    psa = RedmineConnector(
        redmine.env.url,
        redmine.env.api_key,
        session=requests.Session(),
        custom_fields={"budget": "Bugdet"},
    )
    with pytest.raises(
        ConfigError,
        match="custom_fields.budget: Redmine has no project custom field named 'Bugdet'",
    ):
        psa.describe()


def test_a_wrong_api_key_is_an_auth_error_that_never_shows_the_key(redmine_env):
    psa = RedmineConnector(redmine_env.url, "0" * 40, session=requests.Session())
    with pytest.raises(AuthError) as raised:
        psa.find([KEY])
    assert "0" * 40 not in str(raised.value)


def test_a_redmine_that_does_not_answer_is_unavailable():
    psa = RedmineConnector("http://127.0.0.1:9", "k" * 40, session=requests.Session(), timeout=2)
    with pytest.raises(PsaUnavailable, match="did not answer"):
        psa.describe()
