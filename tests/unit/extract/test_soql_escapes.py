"""SOQL string literals: what ``quote``/``to_soql`` write is what the parser and ``evaluate``
read back, in both of SOQL's contexts (a LIKE pattern, where ``\\%`` and ``\\_`` are escapes, and
every other literal, where they are an error). The emulator's side is in
tests/emulator/test_soql_conformance.py."""

from __future__ import annotations

import pytest

from sync.extract.soql import (
    Comparison,
    SoqlSyntaxError,
    evaluate,
    field,
    parse_condition,
    quote,
    to_soql,
)

# A backslash before % or _ in a plain value is a literal backslash, not a LIKE escape.


@pytest.mark.parametrize(
    "value, text", [("a\\%b", r"'a\\%b'"), ("a\\_b", r"'a\\_b'"), ("\\", r"'\\'")]
)
def test_a_plain_value_keeps_its_backslash(value, text):
    assert quote(value) == text
    cond = field("Name").eq(value)
    assert parse_condition(to_soql(cond)) == cond


def test_a_plain_value_matches_only_itself():
    cond = parse_condition(to_soql(field("Name").eq("a\\%b")))
    assert evaluate(cond, {"Name": "a\\%b"}) and not evaluate(cond, {"Name": "a%b"})


@pytest.mark.parametrize("text", [r"Name = 'a\%b'", r"Name IN ('a\_b')"])
def test_percent_and_underscore_escapes_outside_like_are_refused(text):
    # Salesforce: "LIKE expression only"; any other use of a backslash is an error.
    with pytest.raises(SoqlSyntaxError, match="only in a LIKE pattern"):
        parse_condition(text)


# A LIKE pattern: \% and \_ are literal, \\ is a literal backslash, % and _ are wildcards.


@pytest.mark.parametrize(
    "pattern, text",
    [
        ("Ter\\%", r"Name LIKE 'Ter\%'"),
        ("a\\_%", r"Name LIKE 'a\_%'"),
        ("C:\\\\%", r"Name LIKE 'C:\\%'"),
    ],
)
def test_a_like_pattern_keeps_its_escapes(pattern, text):
    cond = field("Name").like(pattern)
    assert to_soql(cond) == text
    assert parse_condition(text) == cond


@pytest.mark.parametrize(
    "text, name, expected",
    [
        (r"Name LIKE 'Ter\%'", "Ter%", True),
        (r"Name LIKE 'Ter\%'", "Terx", False),
        (r"Name LIKE 'C:\\%'", "C:\\dir", True),  # literal backslash, then the wildcard
        (r"Name LIKE 'C:\\%'", "C:%", False),
        (r"Name LIKE 'C:\\\%'", "C:\\%", True),  # literal backslash, literal percent
        (r"Name LIKE 'C:\\\%'", "C:\\x", False),
        (r"Name LIKE 'a\u005f'", "a_", True),  # a \u escape is always a literal character
        (r"Name LIKE 'a\u005f'", "ab", False),
    ],
)
def test_evaluate_reads_like_escapes_as_salesforce_does(text, name, expected):
    assert evaluate(parse_condition(text), {"Name": name}) is expected


def test_a_backslash_in_a_like_pattern_must_escape_something():
    with pytest.raises(ValueError, match=r"backslash"):
        field("Name").like("a\\b")
    with pytest.raises(ValueError, match=r"backslash"):
        to_soql(Comparison("Name", "LIKE", "trailing\\"))


# Control characters: SOQL names \n \r \t \b \f; the others go as \uXXXX, never raw.


@pytest.mark.parametrize(
    "value, text",
    [
        ("a\bb\fc", r"'a\bb\fc'"),
        ("line\nfeed\r\ttab", r"'line\nfeed\r\ttab'"),
        ("nul\x00esc\x1bdel\x7f", r"'nul\u0000esc\u001bdel\u007f'"),
        ("vt\x0bé", "'vt\\u000bé'"),  # non-ASCII text is not a control character
    ],
)
def test_every_control_character_is_escaped(value, text):
    assert quote(value) == text
    assert parse_condition(to_soql(field("Name").eq(value))).value == value
    like = field("Name").like(value)
    assert to_soql(like) == f"Name LIKE {text}"
    assert parse_condition(to_soql(like)) == like


def test_upper_case_escapes_are_read_too():
    # Salesforce documents \N \R \T \B \F alongside their lower-case forms.
    assert parse_condition(r"Name = 'a\Nb\Rc\Td\Be\Ff'").value == "a\nb\rc\td\be\ff"
