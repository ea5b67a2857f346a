"""A table of broken mappings: each names the exact problem, its file, line and key.

Every case edits one line of a small valid mapping (BASE) and asserts the complete list of
problems ``load_mapping`` reports, so a message that loses its line or key fails here.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sync.common.errors import MappingError
from sync.mapping import loader as mapping_module
from sync.mapping.loader import load_mapping

BASE = textwrap.dedent("""\
    version: 1
    source:
      object: Opportunity
      criteria: "IsWon = true"
      start_date: 2026-01-01
      lookback: 10m
    key: Id
    project:
      fields:
        name: {template: "{Account.Name} - {Name}", max_length: 255}
        customer: Account.Name
        budget: {from: Amount, type: decimal, default: 0}
        billing_type: {from: Type, map: {New Customer: Fixed Fee}, unmapped: error, required: true}
    writeback:
      PSA_Project_Id__c: project.id
      PSA_Project_URL__c: project.url
    backsync:
      PSA_Status__c: status
    lifecycle:
      on_unwon: flag
      on_deleted: flag
    conflicts: crm_wins
    """)

FIELD_KEYS = (
    "date_add, default, from, map, max_length, overflow, required, sync, template, "
    "transform, type, tz, unmapped"
)

# (case id, line number in BASE to replace (0 = append), new text,
#  expected "line: key: message" list)
CASES = [
    (
        "unknown top-level key",
        0,
        "extras: 1",
        [
            "23: extras: "
            "unknown key 'extras'; "
            "valid keys: version, source, key, project, writeback, backsync, lifecycle, conflicts, "
            "members, pipeline, structure"
        ],
    ),
    (
        "unknown key in a field",
        12,
        "    budget: {frm: Amount, type: decimal}",
        [
            f"12: project.fields.budget.frm: unknown key 'frm'; valid keys: {FIELD_KEYS}",
            "12: project.fields.budget: needs `from` (a field) or `template`",
        ],
    ),
    (
        "unknown key in source",
        6,
        "  look_back: 10m",
        [
            "6: source.look_back: "
            "unknown key 'look_back'; valid keys: object, criteria, start_date, lookback"
        ],
    ),
    (
        "bad type",
        12,
        "    budget: {from: Amount, type: money}",
        [
            "12: project.fields.budget.type: "
            "'money' is not one of: string, decimal, integer, date, datetime, boolean"
        ],
    ),
    (
        "bad unmapped",
        13,
        '    billing_type: {from: Type, map: {"New Customer": "Fixed Fee"}, unmapped: drop}',
        ["13: project.fields.billing_type.unmapped: 'drop' is not one of: error, default, pass"],
    ),
    (
        "bad sync",
        11,
        "    customer: {from: Account.Name, sync: once}",
        ["11: project.fields.customer.sync: 'once' is not one of: always, on_create"],
    ),
    (
        "bad lifecycle",
        20,
        "  on_unwon: delete",
        ["20: lifecycle.on_unwon: 'delete' is not one of: flag, close, ignore"],
    ),
    (
        "bad conflicts",
        22,
        "conflicts: psa_wins",
        ["22: conflicts: 'psa_wins' is not one of: crm_wins, keep_psa"],
    ),
    ("unsupported version", 1, "version: 2", ["1: version: 2 is not a supported version (1)"]),
    (
        "missing start_date",
        5,
        "",
        [
            "2: source.start_date: "
            "missing: the first run starts reading there, e.g. start_date: 2026-01-01"
        ],
    ),
    (
        "start_date not a date",
        5,
        "  start_date: soon",
        ["5: source.start_date: 'soon' is not a date such as 2026-01-01"],
    ),
    (
        "lookback without unit",
        6,
        "  lookback: 600",
        ["6: source.lookback: 600 is not a duration such as 10m, 2h or 1d (<number><s|m|h|d>)"],
    ),
    (
        "criteria with a second statement",
        4,
        '  criteria: "IsWon = true; DELETE"',
        ["4: source.criteria: unexpected character ';' at character 13 of 'IsWon = true; DELETE'"],
    ),
    (
        "criteria with a subquery",
        4,
        '  criteria: "Id IN (SELECT Id FROM Account)"',
        [
            "4: source.criteria: "
            "subqueries are not supported at character 8 of 'Id IN (SELECT Id FROM Account)'"
        ],
    ),
    (
        "criteria with an unbalanced parenthesis",
        4,
        '  criteria: "(IsWon = true"',
        ["4: source.criteria: expected ')', found end of input at character 14 of '(IsWon = true'"],
    ),
    (
        "criteria reading a link field",
        4,
        '  criteria: "IsWon = true AND PSA_Project_Id__c = null"',
        [
            "4: source.criteria: "
            "reads PSA_Project_Id__c, a field psa-sync writes (writeback/backsync); "
            "criteria may not read psa-sync's own fields"
        ],
    ),
    (
        "criteria reading a back-sync field",
        4,
        "  criteria: \"psa_status__c != 'closed'\"",
        [
            "4: source.criteria: "
            "reads psa_status__c, a field psa-sync writes (writeback/backsync); "
            "criteria may not read psa-sync's own fields"
        ],
    ),
    (
        "write-back into a standard field",
        16,
        "  Description: project.url",
        [
            "16: writeback.Description: "
            "psa-sync writes only custom fields (ending in __c); Description is a standard field"
        ],
    ),
    (
        "write-back of an unknown value",
        16,
        "  PSA_Project_URL__c: project.name",
        ["16: writeback.PSA_Project_URL__c: 'project.name' is not one of: project.id, project.url"],
    ),
    (
        "back-sync into a standard field",
        18,
        "  StageName: status",
        [
            "18: backsync.StageName: "
            "psa-sync writes only custom fields (ending in __c); StageName is a standard field"
        ],
    ),
    (
        "a field in writeback and backsync",
        18,
        "  psa_project_url__c: status",
        [
            "16: writeback.PSA_Project_URL__c: "
            "PSA_Project_URL__c is listed in both writeback and backsync (line 18)"
        ],
    ),
    (
        "a back-sync target that a project field reads",
        11,
        "    customer: PSA_Status__c",
        [
            "18: backsync.PSA_Status__c: PSA_Status__c is also read by project.fields.customer; "
            "a field flows in one direction only"
        ],
    ),
    (
        "a template reading a link field",
        10,
        '    name: {template: "{Name} ({PSA_Project_Id__c})"}',
        [
            "15: writeback.PSA_Project_Id__c: "
            "PSA_Project_Id__c is also read by project.fields.name; "
            "a field flows in one direction only"
        ],
    ),
    (
        "template with a format spec",
        10,
        '    name: {template: "{Amount:.2f}"}',
        [
            "10: project.fields.name.template: "
            "'{Amount:.2f}': format specs and conversions are not supported; "
            "use type and transform"
        ],
    ),
    (
        "template with an unbalanced brace",
        10,
        '    name: {template: "{Account.Name - {Name}"}',
        [
            "10: project.fields.name.template: "
            "unexpected '{' in field name (write a literal brace as {{ or }})"
        ],
    ),
    (
        "template naming no field",
        10,
        '    name: {template: "Project {{draft}}"}',
        ["10: project.fields.name.template: names no field; for a fixed value use `default`"],
    ),
    (
        "template naming a malformed field",
        10,
        '    name: {template: "{Account..Name}"}',
        [
            "10: project.fields.name.template: '{Account..Name}' is not a Salesforce field name "
            "(write a literal brace as {{)"
        ],
    ),
    (
        "default that is not of the type",
        12,
        "    budget: {from: Amount, type: decimal, default: abc}",
        [
            "12: project.fields.budget.default: "
            "'abc' is not a decimal number (the field's type is decimal)"
        ],
    ),
    (
        "map value that is not of the type",
        12,
        "    budget: {from: Amount, type: decimal, map: {small: 1000, big: lots}, unmapped: pass}",
        [
            "12: project.fields.budget.map.big: "
            "'lots' is not a decimal number (the field's type is decimal)"
        ],
    ),
    (
        "map without an explicit unmapped rule",
        13,
        '    billing_type: {from: Type, map: {"New Customer": "Fixed Fee"}}',
        [
            "13: project.fields.billing_type.map: "
            "a `map` needs an explicit `unmapped: error | default | pass`"
        ],
    ),
    (
        "unmapped: default without a default",
        13,
        '    billing_type: {from: Type, map: {"New Customer": "Fixed Fee"}, unmapped: default}',
        ["13: project.fields.billing_type.unmapped: 'default' needs a `default` value"],
    ),
    (
        "max_length on a decimal",
        12,
        "    budget: {from: Amount, type: decimal, max_length: 10}",
        ["12: project.fields.budget.max_length: applies to type string only, not decimal"],
    ),
    (
        "max_length of zero",
        10,
        '    name: {template: "{Account.Name} - {Name}", max_length: 0}',
        ["10: project.fields.name.max_length: must be a whole number of at least 1, not 0"],
    ),
    (
        "unknown transform",
        11,
        "    customer: {from: Account.Name, transform: [strip, title]}",
        [
            "11: project.fields.customer.transform: "
            "unknown transform 'title'; valid: upper, lower, strip"
        ],
    ),
    (
        "date_add on text",
        11,
        "    customer: {from: Account.Name, date_add: {days: 90}}",
        ["11: project.fields.customer.date_add: applies to type date or datetime only, not string"],
    ),
    (
        "date_add with weeks",
        11,
        "    end_date: {from: CloseDate, type: date, date_add: {weeks: 2}}",
        ["11: project.fields.end_date.date_add: must be {days: N}, not {'weeks': 2}"],
    ),
    (
        "unknown time zone",
        11,
        "    start_date: {from: CreatedDate, type: date, tz: Mars/Olympus}",
        [
            "11: project.fields.start_date.tz: "
            "'Mars/Olympus' is not a time zone name such as Europe/Paris or UTC"
        ],
    ),
    (
        "from and template together",
        11,
        '    customer: {from: Account.Name, template: "{Name}"}',
        ["11: project.fields.customer.template: `from` and `template` cannot be used together"],
    ),
    (
        "required that is not a boolean",
        11,
        "    customer: {from: Account.Name, required: yes please}",
        ["11: project.fields.customer.required: must be true or false, not 'yes please'"],
    ),
    (
        "a duplicate key",
        12,
        "    customer: Account.Owner.Name",
        ["12: project.fields.customer: duplicate key (first at line 11)"],
    ),
    (
        "back-sync from an unknown delivery value",
        18,
        "  PSA_Status__c: hours",
        [
            "18: backsync.PSA_Status__c.from: 'hours' is not a PSA delivery value; valid: status, "
            "percent_complete, spent_hours, revenue, cost"
        ],
    ),
    (
        "a project-only key in back-sync",
        18,
        "  PSA_Status__c: {from: status, sync: on_create}",
        [
            "18: backsync.PSA_Status__c.sync: "
            "'sync' is not valid in backsync; "
            "valid keys: default, from, map, max_length, overflow, transform, type, unmapped"
        ],
    ),
    (
        "a project field name in capitals",
        11,
        "    Customer: Account.Name",
        [
            "11: project.fields.Customer: "
            "'Customer' is not a project field name (lower_case_with_underscores)"
        ],
    ),
    (
        "the reserved project field 'key'",
        11,
        "    key: Account.Name",
        [
            "11: project.fields.key: "
            "'key' is reserved: the mapping's `key` value is always sent as the project key"
        ],
    ),
    (
        "an object name with punctuation",
        3,
        "  object: Opportunity;",
        ["3: source.object: 'Opportunity;' is not an object API name such as Opportunity"],
    ),
    (
        "a key on a parent field",
        7,
        "key: Account.Id",
        ["7: key: 'Account.Id' is not a field name: use Id or a unique external-Id field"],
    ),
    (
        "a malformed from",
        11,
        "    customer: Account Name",
        [
            "11: project.fields.customer.from: "
            "'Account Name' is not a Salesforce field name "
            "(letters, digits and _, up to 5 dot-separated levels such as Account.Owner.Email)"
        ],
    ),
    (
        "a rule that is a list",
        11,
        "    customer: [Account.Name]",
        ["11: project.fields.customer: must be a field name or a mapping of rule keys, not a list"],
    ),
    (
        "overflow without max_length",
        11,
        "    customer: {from: Account.Name, overflow: error}",
        ["11: project.fields.customer.overflow: only applies with `max_length`"],
    ),
    (
        "tz on a text field",
        11,
        "    customer: {from: Account.Name, tz: UTC}",
        [
            "11: project.fields.customer.tz: "
            "applies to type date only (it picks the day of a date and time)"
        ],
    ),
    # Inputs the fuzz tests (tests/unit/config/test_config_fuzz.py) and probes around them found
    # raising a traceback.
    (
        "a back-sync rule whose from is a list",
        18,
        "  PSA_Status__c: {from: []}",
        ["18: backsync.PSA_Status__c.from: must be a field name, not a list"],
    ),
    (
        "tz naming a folder of zones",
        11,
        "    customer: {from: CloseDate, type: date, tz: America}",
        [
            "11: project.fields.customer.tz: "
            "'America' is not a time zone name such as Europe/Paris or UTC"
        ],
    ),
    (
        "tz too long for a file name",
        11,
        "    customer: {from: CloseDate, type: date, tz: " + "x" * 300 + "}",
        [
            "11: project.fields.customer.tz: "
            f"'{'x' * 300}' is not a time zone name such as Europe/Paris or UTC"
        ],
    ),
    (
        "tz that is a list",
        11,
        "    customer: {from: CloseDate, type: date, tz: [Europe/Paris]}",
        [
            "11: project.fields.customer.tz: "
            "must be a time zone name such as Europe/Paris or UTC, not a list"
        ],
    ),
    (
        "a map key at the end of time",
        13,
        '    billing_type: {from: Type, map: {9999-12-31T23:59:59-05:00: "Fixed Fee"}, '
        "unmapped: error}",
        [
            "13: project.fields.billing_type.map.9999-12-31 23:59:59-05:00: "
            "a map key must be text, a whole number or true/false, not a date and time"
        ],
    ),
    (
        "a default past the last date once in UTC",
        12,
        "    budget: {from: CloseDate, type: datetime, default: 9999-12-31T23:59:59-05:00}",
        [
            "12: project.fields.budget.default: "
            "9999-12-31T23:59:59-05:00 is out of range (the field's type is datetime)"
        ],
    ),
    (
        "a date default past the last day in its time zone",
        12,
        "    budget: {from: CloseDate, type: date, tz: Europe/Paris, "
        "default: 9999-12-31T23:59:59Z}",
        [
            "12: project.fields.budget.default: "
            "9999-12-31T23:59:59+00:00 is past the last date there is (9999-12-31) in `tz` "
            "(the field's type is date)"
        ],
    ),
    (
        "a lookback longer than time",
        6,
        "  lookback: 99999999999999999999d",
        ["6: source.lookback: '99999999999999999999d' is too long a duration"],
    ),
    (
        "criteria nested 101 deep",
        4,
        '  criteria: "' + "(" * 101 + "IsWon = true" + ")" * 101 + '"',
        [
            "4: source.criteria: parentheses and NOT nest more than 100 deep at character 101 of "
            f"'{'(' * 100}...'"
        ],
    ),
    (
        "criteria with 5000 NOTs",
        4,
        '  criteria: "' + "NOT " * 5000 + 'IsWon = true"',
        [
            "4: source.criteria: parentheses and NOT nest more than 100 deep at character 401 of "
            f"'{('NOT ' * 25)}...'"
        ],
    ),
]


def _edit(line: int, text: str) -> str:
    lines = BASE.splitlines()
    if line == 0:
        lines.append(text)
    elif text:
        lines[line - 1] = text
    else:
        del lines[line - 1]
    return "\n".join(lines) + "\n"


def _problems(path: Path) -> list[str]:
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    return caught.value.problems


def test_the_base_mapping_is_valid(tmp_path):
    path = tmp_path / "base.yaml"
    path.write_text(BASE)
    assert load_mapping(path).fields["budget"].type == "decimal"


def test_a_section_that_is_not_a_mapping_says_what_it_is(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text(
        BASE.replace("lifecycle:\n  on_unwon: flag\n  on_deleted: flag\n", "lifecycle: [a]\n")
    )
    assert _problems(path) == [f"{path}:19: lifecycle: must be a mapping, not a list"]


def test_the_table_is_large_enough():
    assert len(CASES) >= 25


@pytest.mark.parametrize(
    ("line", "text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_broken_mapping_names_file_line_and_key(tmp_path, line, text, expected):
    path = tmp_path / "broken.yaml"
    path.write_text(_edit(line, text))
    assert _problems(path) == [f"{path}:{message}" for message in expected]


def test_every_problem_is_reported_at_once(tmp_path):
    text = _edit(12, "    budget: {from: Amount, type: money}").replace(
        "conflicts: crm_wins", "conflicts: nope"
    )
    path = tmp_path / "many.yaml"
    path.write_text(text.replace("  start_date: 2026-01-01\n", ""))
    problems = _problems(path)
    assert [p.split(": ")[1] for p in problems] == [
        "project.fields.budget.type",
        "source.start_date",
        "conflicts",
    ]


def test_the_path_is_reported_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("relative.yaml").write_text(_edit(1, "version: 3"))
    assert _problems(Path("relative.yaml")) == [
        "relative.yaml:1: version: 3 is not a supported version (1)"
    ]


def test_yaml_syntax_errors_name_their_line(tmp_path):
    path = tmp_path / "syntax.yaml"
    path.write_text(_edit(11, "    customer: [Account.Name"))
    assert _problems(path) == [
        f"{path}:12: (yaml): not valid YAML: expected ',' or ']', but got ':'"
    ]


def test_an_unreadable_file_is_a_mapping_error(tmp_path):
    path = tmp_path / "absent.yaml"
    assert _problems(path) == [
        f"{path}:1: (file): cannot read the mapping: No such file or directory"
    ]


def test_a_document_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- version: 1\n")
    assert _problems(path) == [
        f"{path}:1: (document): a mapping file is a YAML mapping with keys version, "
        "source, key, project, writeback, backsync, lifecycle, conflicts, members, pipeline, "
        "structure"
    ]


def test_python_tags_are_refused_not_executed(tmp_path):
    path = tmp_path / "tag.yaml"
    path.write_text(_edit(11, "    customer: !!python/object/apply:os.system ['true']"))
    assert _problems(path) == [
        f"{path}:11: project.fields.customer: the tag "
        "tag:yaml.org,2002:python/object/apply:os.system is not allowed"
    ]


def test_a_key_not_built_yet_is_refused_saying_so(tmp_path, monkeypatch):
    monkeypatch.setitem(
        mapping_module.NOT_SUPPORTED_YET,
        ("lifecycle.on_deleted", "close"),
        "closing projects of deleted deals is not built",
    )
    path = tmp_path / "close.yaml"
    path.write_text(_edit(21, "  on_deleted: close"))
    assert _problems(path) == [
        f"{path}:21: lifecycle.on_deleted: 'close' is not supported yet: "
        "closing projects of deleted deals is not built"
    ]
