"""The exactly-once invariant counts every project a run could have made, not only those keyed by a
known deal: a stray with the prefix and a wrong key, or none, fails it."""

from __future__ import annotations

import pytest

from tests.fixtures.exactly_once_support import KEY, could_be_synced, one_project_per_won_deal

WON = {"006AK00000000001AAA", "006AK00000000002AAA"}


def project(identifier: str, key: str | None, number: int = 0) -> dict:
    return {"id": number or hash(identifier) % 1000, "identifier": identifier, "values": {KEY: key}}


def ours() -> list[dict]:
    return [project("sf-" + deal.lower(), deal, n) for n, deal in enumerate(sorted(WON), 1)]


def test_one_project_per_won_deal_passes_and_returns_them_by_key():
    assert {k: p["id"] for k, p in one_project_per_won_deal(ours(), WON).items()} == {
        "006AK00000000001AAA": 1,
        "006AK00000000002AAA": 2,
    }


@pytest.mark.parametrize(
    ("stray", "message"),
    [
        (project("sf-stray", None), "1 projects without a deal: \\['sf-stray"),
        (project("sf-stray", ""), "projects without a deal"),
        (
            project("sf-stray", "006AK00000000009AAA"),
            "projects for deals that are not won: \\['006AK00000000009AAA'",
        ),
        (
            project("sf-stray", "006AK00000000001"),
            "not won: \\['006AK00000000001'",
        ),  # the 15-character Id
        (
            project("sf-stray", "006AK00000000001AAA"),
            "duplicate projects: {'006AK00000000001AAA': 2}",
        ),
        (project("copy-by-hand", "006AK00000000002AAA"), "duplicate projects"),
    ],
)
def test_a_stray_project_fails_the_check(stray, message):
    with pytest.raises(AssertionError, match=message):
        one_project_per_won_deal([*ours(), stray], WON)


def test_a_missing_project_fails_the_check():
    with pytest.raises(AssertionError, match="1 won deals have no project"):
        one_project_per_won_deal(ours()[:1], WON)


@pytest.mark.parametrize(
    ("identifier", "key", "counted"),
    [
        ("sf-006ak00000000001aaa", "006AK00000000001AAA", True),
        ("sf-anything", None, True),
        ("sf-anything", "", True),
        ("by-hand", "006AK00000000001AAA", True),
        ("by-hand", "not even an Id", True),
        ("by-hand", None, False),
        ("by-hand", "", False),
        ("sf-acct-001ak00000000001aaa", None, False),  # an account's parent project
        ("sf-acct-001ak00000000001aaa", "006AK00000000001AAA", True),
    ],
)
def test_every_project_a_run_could_have_made_is_counted(identifier, key, counted):
    assert could_be_synced(project(identifier, key)) is counted


def test_another_prefix_is_honoured():
    assert could_be_synced(project("crm-x", None), "crm-")
    assert not could_be_synced(project("crm-acct-x", None), "crm-")
    assert not could_be_synced(project("sf-x", None), "crm-")
