"""The PSA connector contract: ONE suite of the protocol's promises that every connector must pass.

Each test runs against every real PSA (Redmine and Tryton) with the same code; a ``Kit`` holds the
little that differs between them: how a person acts on the PSA (close, copy, log time, set the
percent complete) and which values its lists take. A new connector is a new Kit, never a new test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
import requests

from sync.connectors.psa.base import (
    Delivery,
    NewProject,
    ProjectChange,
    PsaConnector,
    get_connector,
)

pytestmark = [pytest.mark.integration, pytest.mark.realpsa]  # the kit asks for its PSA at run time

KEY = "006AK00000AbCdEQAA"
OTHER = "006AK00000ZzZzZQAB"


@dataclass
class Kit:
    """One PSA as the suite sees it: a connector, and a person's hands on the same PSA."""

    name: str
    psa: PsaConnector
    billing: tuple[str, str]  # two values the billing-type list takes
    billing_label: str  # how the PSA names the billing-type field in its refusals
    count: Callable[[], int]
    close: Callable[[int], None]
    reopen: Callable[[int], None]
    copy: Callable[[int], None]
    log_time: Callable[[int, float], None]
    set_percent: Callable[[int, int], None]
    make_unlinked: Callable[[str], int]

    def fields(self, **overrides):
        fields = {
            "name": "Acme Corp - Implementation",
            "description": "Customer: Acme Corp",
            "customer": "Acme Corp",
            "budget": Decimal("125000.50"),
            "billing_type": self.billing[0],
            "start_date": dt.date(2026, 2, 1),
            "end_date": dt.date(2026, 5, 2),
        }
        return {**fields, **overrides}


def _redmine_kit(request) -> Kit:
    redmine = request.getfixturevalue("redmine")
    from sync.connectors.psa.redmine.connector import RedmineConnector

    psa = RedmineConnector(
        redmine.env.url, redmine.env.api_key, session=requests.Session(), write_concurrency=1
    )
    return Kit(
        "redmine",
        psa,
        ("Fixed Fee", "Retainer"),
        "Billing type",
        redmine.count,
        redmine.close,
        redmine.reopen,
        copy=lambda pid: redmine.copy(pid, f"copy-{pid}"),
        log_time=lambda pid, hours: redmine.log_time(pid, hours),
        set_percent=lambda pid, n: redmine.set_custom_value(pid, "percent_complete", str(n)),
        make_unlinked=lambda name: redmine.create_project("by-hand", name)["id"],
    )


def _tryton_kit(request) -> Kit:
    tryton = request.getfixturevalue("tryton")
    psa = get_connector("tryton")(tryton.env.url, tryton.env.password, {}, requests.Session())
    return Kit(
        "tryton",
        psa,
        ("manual", "progress"),
        "Invoice Method",
        tryton.count,
        tryton.close,
        tryton.reopen,
        copy=tryton.copy,
        log_time=tryton.log_time,
        set_percent=tryton.set_progress,
        make_unlinked=lambda name: tryton.create_project(name),
    )


@pytest.fixture(params=["redmine", "tryton"])
def kit(request) -> Kit:
    return {"redmine": _redmine_kit, "tryton": _tryton_kit}[request.param](request)


def create_one(kit: Kit, key: str = KEY, **overrides):
    [result] = kit.psa.create([NewProject(key, kit.fields(**overrides))])
    assert result.outcome == "created", result
    return result.ref


def test_describe_gives_every_mapped_field_a_typed_place_and_hides_the_key(kit):
    specs = kit.psa.describe()
    assert {
        n: specs[n].type
        for n in ("name", "customer", "budget", "billing_type", "start_date", "end_date")
    } == {
        "name": "string",
        "customer": "string",
        "budget": "decimal",
        "billing_type": "list",
        "start_date": "date",
        "end_date": "date",
    }
    assert specs["billing_type"].required and set(kit.billing) <= set(specs["billing_type"].allowed)
    assert "key" not in specs


def test_a_created_project_reads_back_the_typed_values_it_was_given(kit):
    ref = create_one(kit)
    assert (ref.key, ref.status, ref.identifier) == (KEY, "active", kit.psa.identifier(KEY))
    assert ref.url.startswith(kit.psa.url.rsplit("/", 1)[0])
    values = kit.psa.read([ref])[KEY]
    assert {k: values[k] for k in kit.fields()} == kit.fields()
    assert values["key"] == KEY


def test_create_with_a_taken_key_adopts_the_project_and_makes_no_second(kit):
    ref = create_one(kit)
    [again] = kit.psa.create([NewProject(KEY, kit.fields(name="Renamed since"))])
    assert again.outcome == "exists" and again.ref.id == ref.id
    assert (
        again.values["name"] == "Acme Corp - Implementation"
    )  # what the PSA holds, to diff against
    assert kit.count() == 1


def test_find_returns_the_deal_s_own_project_among_twins_and_nothing_for_unknown_keys(kit):
    ref = create_one(kit)
    kit.copy(ref.id)  # a person copies the project (Redmine copies the key, Tryton does not)
    found = kit.psa.find([KEY, OTHER])
    assert found[OTHER] == []
    assert all(r.key == KEY for r in found[KEY])
    ours = [r for r in found[KEY] if r.identifier == kit.psa.identifier(KEY)]
    assert [r.id for r in ours] == [ref.id]
    assert kit.count() == 2


def test_refusals_fail_only_their_record_with_the_psa_s_words_naming_the_field(kit):
    results = kit.psa.create(
        [
            NewProject(KEY, kit.fields(billing_type="Barter")),
            NewProject(OTHER, kit.fields(name="Fine")),
        ]
    )
    assert [(r.key, r.outcome) for r in results] == [(KEY, "failed"), (OTHER, "created")]
    assert kit.billing_label in results[0].error
    assert kit.count() == 1


def test_update_changes_only_the_given_fields(kit):
    ref = create_one(kit)
    [result] = kit.psa.update(
        [ProjectChange(ref, {"budget": Decimal("150000"), "billing_type": kit.billing[1]})]
    )
    assert result.outcome == "updated"
    values = kit.psa.read([ref])[KEY]
    expected = kit.fields(budget=Decimal("150000"), billing_type=kit.billing[1])
    assert {k: values[k] for k in expected} == expected
    assert kit.psa.update([ProjectChange(ref, {})])[0].outcome == "unchanged"


def test_an_update_of_a_closed_project_is_closed_and_changes_nothing_until_it_is_reopened(kit):
    ref = create_one(kit)
    kit.close(ref.id)
    change = ProjectChange(ref, {"budget": Decimal("1")})
    assert kit.psa.update([change])[0].outcome == "closed"
    assert kit.psa.read([ref])[KEY]["budget"] == Decimal("125000.50")
    kit.reopen(ref.id)
    assert kit.psa.update([change])[0].outcome == "updated"
    assert kit.psa.read([ref])[KEY]["budget"] == Decimal("1")


def test_lifecycle_closes_and_reopens_and_delivery_shows_it(kit):
    ref = create_one(kit)
    [closed] = kit.psa.set_lifecycle([ref], "close")
    assert closed.outcome == "updated" and closed.ref.status == "closed"
    assert kit.psa.delivery([ref], hours=False)[KEY].status == "closed"
    assert [r.status for r in kit.psa.find([KEY])[KEY]] == ["closed"]
    [reopened] = kit.psa.set_lifecycle([ref], "reopen")
    assert (
        reopened.outcome == "updated"
        and kit.psa.delivery([ref], hours=False)[KEY].status == "active"
    )


def test_delivery_values_are_the_psa_s_percent_complete_and_hours(kit):
    ref = create_one(kit)
    other = create_one(kit, key=OTHER)
    kit.set_percent(ref.id, 40)
    for hours in (5, 2.25, 0.25):
        kit.log_time(ref.id, hours)
    delivery = kit.psa.delivery([ref, other], hours=True)
    assert isinstance(delivery[KEY], Delivery)
    assert (delivery[KEY].status, delivery[KEY].percent_complete, delivery[KEY].spent_hours) == (
        "active",
        40,
        Decimal("7.5"),
    )
    assert delivery[OTHER].percent_complete is None and delivery[OTHER].spent_hours == Decimal("0")
    assert delivery[KEY].values["budget"] == Decimal("125000.50")  # current values, for conflicts


def test_a_hand_made_project_is_unlinked_until_its_key_is_written(kit):
    create_one(kit)
    hand = kit.make_unlinked("Made by hand")
    assert [ref.id for ref, _ in kit.psa.list_unlinked()] == [hand]
    [ref] = [r for r, _ in kit.psa.list_unlinked()]
    [result] = kit.psa.set_keys([(ref, OTHER)])
    assert result.outcome == "updated" and result.ref.key == OTHER
    assert [r.id for r in kit.psa.find([OTHER])[OTHER]] == [hand]
    assert sorted(r.key for r in kit.psa.list_linked()) == sorted([KEY, OTHER])
    assert kit.psa.project(str(hand))[0].id == hand
