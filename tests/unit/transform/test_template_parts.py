"""Template parts that may be empty: ``{Field|?}`` drops the part with its separator,
``{Field|text}`` says what it becomes.

Issue 12: a deal without an Account was named " - Consulting Day".
"""

from __future__ import annotations

import pytest

from sync.common.errors import MappingError
from sync.transform.rows import transform
from tests.fixtures.records import deal, mapping_from, only_error, only_row


def label(tmp_path, template: str, **changes) -> str | None:
    mapping = mapping_from(tmp_path, f'  label: {{template: "{template}"}}')
    return only_row(transform([deal(**changes)], mapping)).fields["label"]


def test_the_default_mapping_names_a_deal_without_an_account_by_its_name_alone(default):  # noqa: F811
    rows = transform([deal(), deal(Id="006AK00000AbCdFQAA", Account=None)], default).rows
    assert [r.fields["name"] for r in rows] == ["Acme Corp - Implementation", "Implementation"]


@pytest.mark.parametrize(
    "template,changes,expected",
    [
        ("{Account.Name|?} - {Name}", {}, "Acme Corp - Implementation"),
        ("{Account.Name|?} - {Name}", {"Account": None}, "Implementation"),
        ("{Name} - {Account.Name|?}", {"Account": None}, "Implementation"),
        ("{Name} - {Type|?} - {Account.Name}", {"Type": None}, "Implementation - Acme Corp"),
        ("{Name} - {Type|?} - {Account.Name|?}", {"Type": None, "Account": None}, "Implementation"),
        ("Project: {Account.Name|?} / {Name}.", {"Account": None}, "Project: Implementation."),
        ("{Account.Name|No account} - {Name}", {"Account": None}, "No account - Implementation"),
        ("{Account.Name|n/a: web} - {Name}", {"Account": None}, "n/a: web - Implementation"),
        ("{Account.Name} - {Name}", {"Account": None}, " - Implementation"),  # unmarked: as before
    ],
)
def test_an_empty_part_goes_with_its_separator_or_becomes_its_fallback(
    tmp_path, template, changes, expected
):
    assert label(tmp_path, template, **changes) == expected


def test_every_part_left_out_is_null_so_required_still_applies(tmp_path):
    mapping = mapping_from(
        tmp_path, '  label: {template: "{Account.Name|?} - {Type|?}", required: true}'
    )
    error = only_error(transform([deal(Account=None, Type=None)], mapping))
    assert error.reason == "label: no value (from template) and it is required"


@pytest.mark.parametrize(
    "template,message",
    [
        (
            "{Account.Name|} - {Name}",
            "'{Account.Name|}': say after | what an empty Account.Name becomes",
        ),
        ("{Account..Name|?}", "'{Account..Name}' is not a Salesforce field name"),
    ],
)
def test_a_bad_empty_part_is_a_mapping_error_at_its_line(tmp_path, template, message):
    with pytest.raises(MappingError) as raised:
        mapping_from(tmp_path, f'  label: {{template: "{template}"}}')
    assert any(
        message in problem and ": project.fields.label.template: " in problem
        for problem in raised.value.problems
    ), raised.value.problems
