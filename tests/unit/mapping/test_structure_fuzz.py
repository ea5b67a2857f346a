"""Fuzz: whatever a `structure:` section and its template files hold, the mapping loads or is
refused with problems, each ``file:line: key: message`` (the mapping's or the template file's),
never a traceback."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.common.errors import MappingError
from sync.mapping import load_mapping

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_N", 120)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
PROBLEM = re.compile(r"^.+:\d+: \S.*: .+", re.S)
ROOT = Path(__file__).resolve().parents[3]
BASE = (
    (ROOT / "mappings" / "opportunity_to_project.yaml")
    .read_text()
    .split("\n# Project structure")[0]
)

KEYS = [
    "dates",
    "start",
    "end",
    "templates",
    "file",
    "when",
    "any_line_item",
    "line_items",
    "services",
    "name",
    "hours_from",
    "products",
    "rates",
    "default_role",
    "phase",
    "due",
    "backsync",
    "hours_per_unit",
    "role",
    "phases",
    "tasks",
    "id",
    "hours",
    "line_item_phase",
    "CONS-DAY",
    "Consultant",
    "Tasks_Done__c",
    "from",
    "type",
]
VALUES = [
    "start",
    "end",
    "start + 14d",
    "end - 2w",
    "service_date or end",
    "start - 999d",
    "start + 9999w",
    "t.yaml",
    "missing.yaml",
    "/etc/passwd",
    "..",
    "a\0b",
    "",
    "Type = 'New Customer'",
    "(((",
    "Product2.Family = 'Services'",
    "{Product2.Name}",
    "{",
    "Hours__c",
    "Consultant",
    "a",
    "b",
    "start_date",
    "end_date",
    "budget",
    "tasks_done",
    "current_phase",
    "decimal",
    "-1",
    "1e400",
    "x" * 70,
]
scalars = st.one_of(
    st.sampled_from(VALUES),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.text(max_size=8),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=25,
)


@FUZZ
@given(section=documents, template=documents)
def test_any_structure_and_template_is_loaded_or_refused_with_problems(tmp_path, section, template):
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(template), encoding="utf-8")
    path = tmp_path / "mapping.yaml"
    path.write_text(BASE + "\n" + yaml.safe_dump({"structure": section}), encoding="utf-8")
    try:
        load_mapping(path)
    except MappingError as exc:
        assert exc.problems and all(PROBLEM.match(p) for p in exc.problems), exc.problems


def test_a_template_of_the_wrong_shape_is_one_problem_at_its_file(tmp_path):
    (tmp_path / "t.yaml").write_text("- a list\n")
    path = tmp_path / "mapping.yaml"
    path.write_text(BASE + "\nstructure:\n  templates: [t.yaml]\n")
    try:
        load_mapping(path)
    except MappingError as exc:
        assert exc.problems == [
            f"{tmp_path / 't.yaml'}:1: (document): a template is a YAML mapping with keys name, "
            "phases, tasks, line_item_phase, not a list"
        ]
    else:
        raise AssertionError("a list is not a template")
