"""Keys that cannot name a project: with an external-Id key (``key: External_Id__c``) the key is
whatever a person typed into Salesforce, and it becomes the PSA project's identifier and part of
its URLs. A key that cannot be one (empty, too long, ``/``, ``\\``, a control character, anything
outside a Redmine identifier once lower-cased) fails its own row, naming the key; the rest of the
page goes on."""

from __future__ import annotations

import pytest

from sync.transform.keys import KEY_MAX_LENGTH, key_problem
from sync.transform.rows import transform
from tests.fixtures.records import deal, mapping_from

GOOD = ["PR-0042", "deal_42", "ABC", "x" * KEY_MAX_LENGTH, "006AK00000AbCdEQAA"]
BAD = {
    "../../users/1": "'.' and '/'",
    "a/b": "'/'",
    "a\\b": "'\\\\'",
    "line\nbreak": "'\\n'",
    "nul\x00": "'\\x00'",
    "": "is empty",
    "x" * (KEY_MAX_LENGTH + 1): f"{KEY_MAX_LENGTH + 1} characters",
    "Été-2026": "'é'",
    "with space": "' '",
    "a|b": "'|'",
    "a?b#c": "'?' and '#'",
    "%2e%2e": "'%'",
}


@pytest.fixture
def external(tmp_path):
    return mapping_from(tmp_path, "  customer: Account.Name", extra="key: External_Id__c")


def test_identifiers_of_redmine_fit_the_longest_key():
    assert (
        len("sf-" + "x" * KEY_MAX_LENGTH) == 100
    )  # Redmine's identifier limit, with psa-sync's prefix


@pytest.mark.parametrize("key", GOOD)
def test_a_key_redmine_takes_as_an_identifier_is_fine(key):
    assert key_problem(key) is None


@pytest.mark.parametrize("key, said", BAD.items(), ids=range(len(BAD)))
def test_a_key_that_cannot_name_a_project_says_why(key, said):
    assert said in key_problem(key)


def test_a_bad_external_key_fails_its_row_naming_the_key_and_the_page_goes_on(external):
    records = [
        deal(Id=f"006AK00000AbCd{n}QAA", External_Id__c=key)
        for n, key in enumerate(["PR-0042", "../../users/1", "PR-0043"])
    ]
    result = transform(records, external)
    assert [row.key for row in result.rows] == ["PR-0042", "PR-0043"]
    [error] = result.errors
    assert (error.record_id, error.field, error.matches) == (
        "006AK00000AbCd1QAA",
        "External_Id__c",
        True,
    )
    assert error.reason.startswith("External_Id__c: key '../../users/1' cannot name a PSA project")


def test_a_very_long_key_is_named_cut_short(external):
    [error] = transform([deal(External_Id__c="Z" * 5000)], external).errors
    assert (
        "5000 characters" in error.reason
        and "Z" * 100 not in error.reason
        and len(error.reason) < 400
    )
