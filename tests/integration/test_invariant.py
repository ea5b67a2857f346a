"""The exactly-once check itself: a duplicate made by hand in Redmine — the prefix with a wrong key,
or none — fails it, although a check counting only the projects keyed by a known deal would not see
it."""

from __future__ import annotations

import random

import pytest

from tests.fixtures.exactly_once_support import KEY, Book, assert_exactly_once, redmine_projects

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("wrong_key", "message"),
    [
        (None, "1 projects without a deal: \\['sf-stray-by-hand"),
        ("006000000000000AAA", "projects for deals that are not won: \\['006000000000000AAA'"),
        ("the won deal's 15-character Id", "projects for deals that are not won"),
    ],
    ids=["no key", "a made-up key", "a 15-character key"],
)
def test_a_stray_project_with_the_prefix_and_a_wrong_key_or_none_fails_the_check(
    harness, emulator, redmine, wrong_key, message
):
    harness.write_config()
    book = Book(emulator, random.Random(11))
    book.seed(won=3, other=1)
    harness.run()
    assert_exactly_once(harness)  # clean before the stray
    if wrong_key == "the won deal's 15-character Id":
        wrong_key = book.deals[0][:15]
    custom = {"salesforce_opportunity_id": wrong_key} if wrong_key else {}
    stray = redmine.create_project("sf-stray-by-hand", "A copy made by hand", custom=custom)

    # Invisible to a count of the projects keyed by a known deal (the check as it was) ...
    known = redmine_projects(redmine, set(emulator.ids("Opportunity")))
    assert stray["id"] not in {p["id"] for p in known} and len(known) == 3
    # ... and seen by the check as it is.
    with pytest.raises(AssertionError, match=message):
        assert_exactly_once(harness)
    redmine.delete(stray["id"])
    assert_exactly_once(harness)


def test_a_project_with_a_won_deals_key_under_another_identifier_fails_the_check(
    harness, emulator, redmine
):
    harness.write_config()
    deal = Book(emulator, random.Random(12)).deal()
    harness.run()
    copy = redmine.copy(assert_exactly_once(harness)[deal]["id"], "copied-by-hand")
    assert redmine.custom_value(copy["id"], KEY) == deal

    with pytest.raises(AssertionError, match=f"duplicate projects: {{'{deal}': 2}}"):
        assert_exactly_once(harness)
