"""YAML that PyYAML itself chokes on, found by the fuzz tests
(tests/unit/config/test_config_fuzz.py): each is one ``file:line: key: message`` problem from the
config and the mapping loader, never a traceback."""

from __future__ import annotations

import pytest

from sync.common.errors import MappingError
from sync.config import ConfigError, load_settings
from sync.mapping import load_mapping
from tests.fixtures.configs import ENV

VALID_KEYS = (
    "events, forecast, http, limits, mapping, metrics, psa, retention, salesforce, schedule, state"
)

# (what, the file's text, the problems, as "line: key: message")
WHOLE_DOCUMENT = {
    "a control character": (
        "\x1f",
        ["1: (yaml): not valid YAML: the character #x001f is not allowed (a control character)"],
    ),
    "a NUL byte on line 2": (
        "a: 1\nb: \x00",
        ["2: (yaml): not valid YAML: the character #x0000 is not allowed (a control character)"],
    ),
    "an empty !!float": ("!!float", ["1: (document): bad value: '' is not a valid float"]),
    "an empty !!int": ("!!int", ["1: (document): bad value: '' is not a valid int"]),
    "an empty !!timestamp": (
        "!!timestamp",
        ["1: (document): bad value: '' is not a valid timestamp"],
    ),
    "lists nested 10,000 deep": (
        "[" * 10000,
        ["1: (yaml): the document nests more than 40 levels deep"],
    ),
    "a block list nested 3,000 deep": (
        "- " * 3000 + "x",
        ["1: (yaml): the document nests more than 40 levels deep"],
    ),
}


def config_problems(path):
    with pytest.raises(ConfigError) as caught:
        load_settings(path, ENV)
    return [p.removeprefix(f"{path}:") for p in caught.value.problems]


def mapping_problems(path):
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    return [p.removeprefix(f"{path}:") for p in caught.value.problems]


@pytest.mark.parametrize("text, expected", WHOLE_DOCUMENT.values(), ids=WHOLE_DOCUMENT)
def test_a_document_pyyaml_cannot_read_is_one_problem_for_the_config_and_the_mapping(
    tmp_path, text, expected
):
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    assert config_problems(path) == expected
    assert mapping_problems(path) == expected


def test_a_tagged_value_its_tag_cannot_read_is_a_problem_at_its_key(tmp_path):
    path = tmp_path / "psa-sync.yaml"
    path.write_text("state: !!float x\nmapping: !!timestamp\nhttp:\n  retries: !!int\n")
    assert config_problems(path)[:3] == [
        "1: state: bad value: 'x' is not a valid float",
        "2: mapping: bad value: '' is not a valid timestamp",
        "4: http.retries: bad value: '' is not a valid int",
    ]


def test_a_tagged_key_its_tag_cannot_read_is_a_problem_at_its_line(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\n!!float x: 1\n")
    assert mapping_problems(path)[0] == "2: (document): bad key: 'x' is not a valid float"


@pytest.mark.parametrize("key, shown", [("\\r", "'\\r'"), ("", "''"), (" state", "' state'")])
def test_a_key_that_cannot_be_read_back_is_quoted_in_the_message(tmp_path, key, shown):
    path = tmp_path / "psa-sync.yaml"
    path.write_text(f'"{key}": null\n')
    assert config_problems(path)[0] == f"1: {shown}: unknown key; valid keys: {VALID_KEYS}"
