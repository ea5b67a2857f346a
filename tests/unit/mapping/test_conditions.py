"""Every SOQL condition a mapping holds (``source.criteria``, ``pipeline.criteria``, a route's
``when`` and ``any_line_item``, ``line_items.services``) is read by one parser: each wrong value
is refused at its key with the same words, whichever key holds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.common.errors import MappingError
from sync.mapping.loader import load_mapping

MAPPING = """\
version: 1
source:
  object: Opportunity
  criteria: {source}
  start_date: 2026-01-01
project:
  fields:
    name: Name
writeback:
  PSA_Project_Id__c: project.id
pipeline:
  criteria: {pipeline}
structure:
  templates:
    - file: templates/impl.yaml
      when: {when}
      any_line_item: {any_line_item}
  line_items:
    services: {services}
    hours_from: Hours__c
"""
TEMPLATE = "name: Implementation\ntasks:\n  - {id: kickoff, name: Kick-off, hours: 4}\n"
VALID = {
    "source": '"IsWon = true"',
    "pipeline": '"IsClosed = false AND Probability >= 50"',
    "when": "\"Type = 'New Customer'\"",
    "any_line_item": "\"Product2.Family = 'Services'\"",
    "services": "\"Product2.Family = 'Services'\"",
}
KEYS = {
    "source": "source.criteria",
    "pipeline": "pipeline.criteria",
    "when": "structure.templates[0].when",
    "any_line_item": "structure.templates[0].any_line_item",
    "services": "structure.line_items.services",
}


def write(tmp_path: Path, **conditions: str) -> Path:
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "impl.yaml").write_text(TEMPLATE)
    path = tmp_path / "mapping.yaml"
    path.write_text(MAPPING.format(**{**VALID, **conditions}))
    return path


def problems_at(path: Path, key: str) -> list[str]:
    """The messages of the problems at ``key`` (file and line cut off)."""
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    return [p.split(f": {key}: ", 1)[1] for p in caught.value.problems if f": {key}: " in p]


def test_the_mapping_with_every_condition_loads(tmp_path):
    mapping = load_mapping(write(tmp_path))
    assert mapping.pipeline is not None and mapping.structure is not None


@pytest.mark.parametrize("name", list(KEYS))
def test_a_condition_that_is_not_text_names_an_example(tmp_path, name):
    [problem] = problems_at(write(tmp_path, **{name: "42"}), KEYS[name])
    assert problem.startswith("must be a SOQL condition in quotes, such as ")
    assert problem.endswith(", not 42")


@pytest.mark.parametrize("name", list(KEYS))
def test_a_long_condition_that_does_not_parse_is_quoted_up_to_100_characters(tmp_path, name):
    text = "Name = 'unterminated " + "x" * 150
    [problem] = problems_at(write(tmp_path, **{name: f'"{text}"'}), KEYS[name])
    assert problem.endswith(f" of {text[:100] + '...'!r}"), problem


@pytest.mark.parametrize(
    ("name", "condition"),
    [
        ("source", '"IsWon = true AND PSA_Project_Id__c = null"'),
        ("pipeline", '"IsClosed = false AND PSA_Project_Id__c = null"'),
        ("when", '"PSA_Project_Id__c = null"'),
    ],
)
def test_a_deal_condition_may_not_read_a_field_psa_sync_writes(tmp_path, name, condition):
    assert problems_at(write(tmp_path, **{name: condition}), KEYS[name]) == [
        "reads PSA_Project_Id__c, a field psa-sync writes (writeback/backsync); "
        "criteria may not read psa-sync's own fields"
    ]
