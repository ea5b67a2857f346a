"""The `structure:` section (issue 23): its validation with file:line, the routing to templates,
the date language, each hours rule, the service filter, and each record error that quarantines a
deal."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from sync.common.errors import MappingError
from sync.common.model import DesiredRow, RowError
from sync.common.structure import ChildKind, Structure
from sync.mapping.loader import load_mapping
from sync.mapping.structure_rules import DateSyntaxError, parse_relative_date
from sync.transform.structure import structure_of, structure_roles

ROOT = Path(__file__).resolve().parents[3]
BASE = (ROOT / "mappings" / "opportunity_to_project.yaml").read_text()

TEMPLATE = """\
name: Implementation
phases:
  - {id: discovery, name: Discovery, due: start + 14d}
  - {id: build, name: Build, due: end - 14d}
tasks:
  - id: kickoff
    name: Kick-off
    phase: discovery
    hours: 4
    role: Project Manager
    start: start
    due: start + 2d
"""

STRUCTURE = """\
structure:
  templates:
    - file: templates/impl.yaml
      when: "Type = 'New Customer'"
  line_items:
    services: "Product2.Family = 'Services'"
    products:
      CONS-DAY: {hours_per_unit: 8, role: Consultant}
      PM-FLAT: {role: Project Manager}
    rates: {Project Manager: 150}
    default_role: Consultant
    phase: build
    due: service_date or end
"""


def write(tmp_path: Path, structure: str = STRUCTURE, template: str | None = TEMPLATE) -> Path:
    (tmp_path / "templates").mkdir(exist_ok=True)
    if template is not None:
        (tmp_path / "templates" / "impl.yaml").write_text(template)
    path = tmp_path / "mapping.yaml"
    path.write_text(BASE + "\n" + structure)
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    return caught.value.problems


def line_of(path: Path, text: str) -> int:
    return next(
        n
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if text in line and not line.lstrip().startswith("#")
    )


def item(
    item_id: str,
    code: str = "CONS-DAY",
    family: str = "Services",
    quantity=2,
    total=2400.0,
    **extra,
) -> dict:
    return {
        "attributes": {"type": "OpportunityLineItem"},
        "Id": item_id,
        "Quantity": quantity,
        "UnitPrice": 1200.0,
        "TotalPrice": total,
        "ServiceDate": None,
        "Description": None,
        "SortOrder": None,
        "ProductCode": code,
        "Product2": {"Name": f"Product {code}", "ProductCode": code, "Family": family},
        **extra,
    }


def deal(items: list[dict] | None, deal_type: str = "New Customer") -> dict:
    nested = None if items is None else {"totalSize": len(items), "done": True, "records": items}
    return {"Id": "006A000000AbCdEIAZ", "Type": deal_type, "OpportunityLineItems": nested}


def row(start: date | None = date(2026, 3, 1), end: date | None = date(2026, 9, 30)) -> DesiredRow:
    return DesiredRow(
        record_id="006A000000AbCdEIAZ",
        key="006A000000AbCdEIAZ",
        modstamp=datetime(2026, 3, 2, tzinfo=UTC),
        deleted=False,
        matches=True,
        fields={"start_date": start, "end_date": end},
        record_links={},
    )


def plan(
    tmp_path: Path, record: dict, structure: str = STRUCTURE, template: str = TEMPLATE, **dates
) -> object:
    return structure_of(row(**dates), record, load_mapping(write(tmp_path, structure, template)))


# --- the section's validation: file:line: key: message --------------------------------------------


def test_the_example_mapping_and_its_templates_load():
    mapping = load_mapping(ROOT / "mappings" / "examples" / "structure.yaml")
    assert [t.name for t in mapping.structure.templates()] == ["Implementation", "Standard"]
    assert structure_roles(mapping.structure) == {"Consultant", "Trainer", "Project Manager"}
    assert "Estimated_Hours__c" in mapping.structure.line_item_fields()


def test_the_commented_section_init_writes_is_valid_once_uncommented(tmp_path):
    lines = BASE.split("# structure:\n", 1)[1].splitlines()
    (tmp_path / "templates").symlink_to(ROOT / "mappings" / "templates")
    path = tmp_path / "mapping.yaml"
    path.write_text(BASE + "\nstructure:\n" + "\n".join(line[2:] for line in lines) + "\n")
    rules = load_mapping(path).structure
    assert [t.name for t in rules.templates()] == ["Implementation", "Standard"]
    assert set(rules.backsync) == {"PSA_Tasks_Done__c", "PSA_Current_Phase__c"}


def test_a_task_naming_an_unknown_phase_is_refused_at_the_template_files_line(tmp_path):
    path = write(tmp_path, template=TEMPLATE.replace("phase: discovery", "phase: discovry"))
    template = tmp_path / "templates" / "impl.yaml"
    assert problems_of(path) == [
        f"{template}:{line_of(template, 'discovry')}: tasks[0].phase: 'discovry' is not a "
        "phase of this template; its phases: discovery, build"
    ]


def test_unknown_keys_are_refused_in_the_section_and_in_a_template(tmp_path):
    path = write(
        tmp_path,
        STRUCTURE.replace("    default_role:", "    hours_per_day: 8\n    default_role:"),
        TEMPLATE.replace("    hours: 4", "    hours: 4\n    owner: Ann"),
    )
    template = tmp_path / "templates" / "impl.yaml"
    found = problems_of(path)
    assert (
        f"{path}:{line_of(path, 'hours_per_day')}: structure.line_items.hours_per_day: "
        "unknown key 'hours_per_day'; valid keys: services, name, hours_from, products, rates, "
        "default_role, phase, start, due, on_removed, removed_note, on_quantity_change" in found
    )
    assert (
        f"{template}:{line_of(template, 'owner')}: tasks[0].owner: "
        "unknown key 'owner'; valid keys: id, name, phase, hours, role, start, due" in found
    )


def test_a_template_file_that_does_not_exist_is_named_at_the_mappings_line(tmp_path):
    path = write(tmp_path, STRUCTURE.replace("templates/impl.yaml", "templates/missing.yaml"))
    assert problems_of(path) == [
        f"{path}:{line_of(path, 'missing.yaml')}: structure.templates[0].file: the template "
        f"file {tmp_path / 'templates' / 'missing.yaml'} does not exist"
    ]


def test_a_template_file_that_does_not_parse_is_named_at_its_own_line(tmp_path):
    path = write(tmp_path, template="name: Broken\nphases:\n  - {id: a, name: [unclosed\n")
    [problem] = problems_of(path)
    assert (
        problem.startswith(f"{tmp_path / 'templates' / 'impl.yaml'}:")
        and "not valid YAML" in problem
    )


def test_a_rate_for_a_role_nothing_uses_is_refused(tmp_path):
    path = write(
        tmp_path, STRUCTURE.replace("rates: {Project Manager: 150}", "rates: {Project Managr: 150}")
    )
    assert problems_of(path) == [
        f"{path}:{line_of(path, 'Project Managr')}: structure.line_items.rates.Project Managr: "
        "a rate for role 'Project Managr', which no product, template task or default_role has; "
        "roles used: Consultant, Project Manager"
    ]


def test_duplicate_ids_across_phases_and_tasks_are_refused(tmp_path):
    path = write(tmp_path, template=TEMPLATE.replace("id: kickoff", "id: build"))
    template = tmp_path / "templates" / "impl.yaml"
    assert problems_of(path) == [
        f"{template}:{line_of(template, '- id: build')}: tasks[0].id: duplicate id 'build' "
        "(first at line 4); each phase and task of a template needs its own"
    ]


def test_an_item_without_an_id_is_refused_saying_why_ids_are_explicit(tmp_path):
    path = write(tmp_path, template=TEMPLATE.replace("{id: discovery, ", "{"))
    assert any(
        "phases[0].id: missing: every phase and task needs a stable `id`" in p
        for p in problems_of(path)
    )


def test_a_bad_relative_date_is_refused_at_its_line(tmp_path):
    path = write(tmp_path, template=TEMPLATE.replace("due: start + 14d", "due: start + two weeks"))
    [found] = problems_of(path)
    assert re.search(
        r"impl\.yaml:3: phases\[0\]\.due: 'start \+ two weeks' is not a date relative to the deal",
        found,
    )


def test_a_line_item_phase_the_template_lacks_is_refused(tmp_path):
    path = write(tmp_path, STRUCTURE.replace("phase: build", "phase: delivery"))
    assert problems_of(path) == [
        f"{path}:{line_of(path, 'phase: delivery')}: structure.line_items.phase: 'delivery' "
        "is not a phase of templates/impl.yaml (its phases: discovery, build); add it there, "
        "or set line_item_phase in that template"
    ]


def test_relative_dates_need_start_and_end_to_be_date_fields(tmp_path):
    path = write(
        tmp_path, STRUCTURE.replace("structure:\n", "structure:\n  dates: {start: budget}\n")
    )
    assert any(
        "structure.dates.start: relative dates count from `start`, "
        "the project field 'budget', which is of type decimal" in p
        for p in problems_of(path)
    )


def test_no_hours_rule_at_all_is_a_config_error(tmp_path):
    text = STRUCTURE.replace("      CONS-DAY: {hours_per_unit: 8, role: Consultant}\n", "")
    path = write(tmp_path, text.replace("    rates: {Project Manager: 150}\n", ""))
    assert any("structure.line_items: no hours rule" in p for p in problems_of(path))


def test_progress_backsync_fields_are_validated_like_backsync(tmp_path):
    path = write(
        tmp_path,
        STRUCTURE + "  backsync:\n    Tasks_Done__c: tasks_finished\n    Amount: tasks_total\n"
        "    PSA_Status__c: current_phase\n",
    )
    found = "\n".join(problems_of(path))
    assert (
        "structure.backsync.Tasks_Done__c.from: "
        "'tasks_finished' is not a PSA delivery value; valid: tasks_done" in found
    )
    assert "structure.backsync.Amount: 'Amount': psa-sync writes only custom fields" in found
    assert "structure.backsync.PSA_Status__c: PSA_Status__c is also written by backsync" in found


def test_routing_may_not_read_a_field_psa_sync_writes(tmp_path):
    path = write(
        tmp_path,
        STRUCTURE.replace("Type = 'New Customer'", "PSA_Tasks_Done__c > 0")
        + "  backsync:\n    PSA_Tasks_Done__c: tasks_done\n",
    )
    assert any(
        "structure.templates[0].when: reads PSA_Tasks_Done__c, a field psa-sync writes" in p
        for p in problems_of(path)
    )


def test_amendments_default_to_flag_and_follow_and_refuse_other_words(tmp_path):
    rules = load_mapping(write(tmp_path)).structure.line_items
    assert (rules.on_removed, rules.on_quantity_change) == (
        "flag",
        "follow",
    ) and "never deletes" in rules.removed_note
    path = write(tmp_path, STRUCTURE + "    on_removed: delete\n    on_quantity_change: always\n")
    assert problems_of(path) == [
        f"{path}:{line_of(path, 'on_removed')}: structure.line_items.on_removed: "
        "'delete' is not one of: flag, ignore",
        f"{path}:{line_of(path, 'on_quantity_change')}: structure.line_items.on_quantity_change: "
        "'always' is not one of: follow, keep",
    ]


# --- the date language ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("start", date(2026, 3, 1)),
        ("end", date(2026, 9, 30)),
        ("start + 14d", date(2026, 3, 15)),
        ("end - 5d", date(2026, 9, 25)),
        ("start+2w", date(2026, 3, 15)),
        ("end   -  1w", date(2026, 9, 23)),
    ],
)
def test_relative_dates(text, expected):
    assert (
        parse_relative_date(text).resolve({"start": date(2026, 3, 1), "end": date(2026, 9, 30)})
        == expected
    )


@pytest.mark.parametrize(
    "text", ["", "tomorrow", "start + 14", "start + 3m", "service_date", "start +", 14]
)
def test_what_is_not_a_relative_date(text):
    with pytest.raises(DateSyntaxError):
        parse_relative_date(text)


def test_or_falls_back_when_the_first_base_is_empty():
    relative = parse_relative_date("service_date or end - 1d", ("start", "end", "service_date"))
    assert relative.resolve({"service_date": None, "end": date(2026, 9, 30)}) == date(2026, 9, 29)
    assert relative.resolve({"service_date": date(2026, 5, 1), "end": date(2026, 9, 30)}) == date(
        2026, 5, 1
    )


# --- routing, hours rules, the service filter -----------------------------------------------------


def test_a_new_customer_gets_the_template_and_a_task_per_service_line_item(tmp_path):
    structure = plan(
        tmp_path, deal([item("00kA0000001"), item("00kA0000002", "LIC", family="Licences")])
    )
    assert isinstance(structure, Structure) and structure.template == "Implementation"
    assert [(c.kind, c.name, c.due) for c in structure.phases] == [
        (ChildKind.PHASE, "Discovery", date(2026, 3, 15)),
        (ChildKind.PHASE, "Build", date(2026, 9, 16)),
    ]
    kickoff, line = structure.tasks
    assert (
        kickoff.key,
        kickoff.phase,
        kickoff.hours,
        kickoff.role,
        kickoff.start,
        kickoff.due,
    ) == (
        "006A000000AbCdEIAZ/t:kickoff",
        "006A000000AbCdEIAZ/t:discovery",
        Decimal(4),
        "Project Manager",
        date(2026, 3, 1),
        date(2026, 3, 3),
    )
    assert (line.key, line.name, line.phase, line.hours, line.role, line.due) == (
        "006A000000AbCdEIAZ/li:00kA0000001",
        "Product CONS-DAY",
        "006A000000AbCdEIAZ/t:build",
        Decimal("16.00"),
        "Consultant",
        date(2026, 9, 30),
    )
    assert line.line_item.quantity == Decimal(2) and line.line_item.product_code == "CONS-DAY"


def test_another_deal_type_gets_no_template_and_only_its_line_items(tmp_path):
    structure = plan(tmp_path, deal([item("00kA0000001")], deal_type="Existing Customer - Upgrade"))
    assert structure.template is None and structure.phases == ()
    assert [(t.key, t.phase) for t in structure.tasks] == [
        ("006A000000AbCdEIAZ/li:00kA0000001", None)
    ]


def test_any_line_item_routes_on_the_products_sold(tmp_path):
    routed = STRUCTURE.replace(
        "      when: \"Type = 'New Customer'\"\n",
        "      any_line_item: \"Product2.Family = 'Training'\"\n",
    )
    assert plan(tmp_path, deal([item("00kA0000001")]), routed).template is None
    training = routed.replace("CONS-DAY: {", "TRN: {hours_per_unit: 1}\n      CONS-DAY: {")
    both = deal([item("00kA0000001"), item("00kA0000002", "TRN", family="Training")])
    assert plan(tmp_path, both, training).template == "Implementation"


def test_the_field_rule_takes_hours_first_when_it_has_a_value(tmp_path):
    text = STRUCTURE.replace(
        "    default_role:", "    hours_from: Estimated_Hours__c\n    default_role:"
    )
    structure = plan(
        tmp_path,
        deal(
            [
                item("00kA0000001", Estimated_Hours__c=30),
                item("00kA0000002", Estimated_Hours__c=None),
            ]
        ),
        text,
    )
    assert [t.hours for t in structure.tasks if t.line_item] == [Decimal("30.00"), Decimal("16.00")]


def test_total_price_divided_by_the_rate_of_the_products_role(tmp_path):
    structure = plan(tmp_path, deal([item("00kA0000001", "PM-FLAT", quantity=1, total=1000.0)]))
    [task] = [t for t in structure.tasks if t.line_item]
    assert (task.role, task.hours) == ("Project Manager", Decimal("6.67"))


def test_a_deal_with_no_line_items_has_the_template_alone(tmp_path):
    assert [c.key for c in plan(tmp_path, deal(None)).tasks] == ["006A000000AbCdEIAZ/t:kickoff"]
    assert [c.key for c in plan(tmp_path, deal([])).tasks] == ["006A000000AbCdEIAZ/t:kickoff"]


# --- record errors: the deal is quarantined, naming the item --------------------------------------


def reason(result) -> str:
    assert isinstance(result, RowError), result
    assert result.field == "(structure)" and result.matches
    return result.reason


def test_a_product_with_no_hours_rule_quarantines_the_deal_naming_the_line_item(tmp_path):
    text = STRUCTURE.replace("    default_role: Consultant\n", "")
    found = reason(plan(tmp_path, deal([item("00kA0000009", "MYSTERY")]), text))
    assert found.startswith(
        "structure: line item 00kA0000009 (product MYSTERY Product MYSTERY): no hours rule gives"
    )


def test_a_negative_quantity_quarantines_the_deal(tmp_path):
    found = reason(plan(tmp_path, deal([item("00kA0000003", quantity=-2)])))
    assert found == (
        "structure: line item 00kA0000003: "
        "Quantity -2 is negative; a service sold makes a task with hours, never fewer than none"
    )


def test_a_task_before_the_project_start_quarantines_the_deal(tmp_path):
    found = reason(
        plan(tmp_path, deal([]), template=TEMPLATE.replace("start: start\n", "start: start - 3d\n"))
    )
    assert (
        found
        == "structure: task 'kickoff' starts 2026-02-26, before the project's start 2026-03-01"
    )


def test_a_service_date_before_the_start_names_the_line_item(tmp_path):
    found = reason(plan(tmp_path, deal([item("00kA0000004", ServiceDate="2026-01-15")])))
    assert found == (
        "structure: line item 00kA0000004 is due 2026-01-15, before the project's start 2026-03-01"
    )


def test_a_relative_date_without_a_start_date_quarantines_the_deal(tmp_path):
    found = reason(plan(tmp_path, deal([]), start=None))
    assert (
        "templates/impl.yaml phase 'discovery': "
        "due is `start + 14d`, but the deal has no start date" in found
    )
    assert (
        "templates/impl.yaml task 'kickoff': start is `start`, but the deal has no start date"
        in found
    )


def test_line_items_not_read_to_their_end_are_never_half_planned(tmp_path):
    record = deal([item("00kA0000001")])
    record["OpportunityLineItems"].update(
        done=False, totalSize=1200, nextRecordsUrl="/services/data/v62.0/query/01g-1"
    )
    assert "only 1 of 1200 line items were read" in reason(plan(tmp_path, record))
    # every page appended by the reader: complete
    record["OpportunityLineItems"].update(totalSize=1)
    assert isinstance(plan(tmp_path, record), Structure)


def test_a_line_item_appearing_twice_is_refused_not_made_twice(tmp_path):
    assert "line item 00kA0000001 appears twice" in reason(
        plan(tmp_path, deal([item("00kA0000001")] * 2))
    )


def test_every_problem_of_a_deal_is_given_at_once(tmp_path):
    found = reason(
        plan(tmp_path, deal([item("00kA0000005", quantity=-1), item("00kA0000006", quantity=-3)]))
    )
    assert "00kA0000005" in found and "00kA0000006" in found


# --- the page step: the structure travels beside the row, never in its payload --------------------


def test_the_structure_is_not_in_the_projects_payload_or_its_hash():
    import json

    from sync.orchestrator.stages import plan_page

    records = json.loads((ROOT / "tests" / "e2e" / "deals_with_line_items.json").read_text())[
        "records"
    ]
    plain = plan_page(
        records, load_mapping(ROOT / "mappings" / "opportunity_to_project.yaml"), None
    )
    planned = plan_page(
        records, load_mapping(ROOT / "mappings" / "examples" / "structure.yaml"), None
    )
    assert set(planned.structures) == {c.row.record_id for c in planned.plan.creates}
    hashes = {c.row.record_id: (c.payload_hash, c.row.fields) for c in plain.plan.creates}
    for create in planned.plan.creates:
        assert (create.payload_hash, create.row.fields) == hashes[create.row.record_id]
    assert set(planned.quarantine) == {"006A000000AbCdJIAZ"} and not plain.quarantine


def test_progress_values_become_the_fields_of_structure_backsync():
    from sync.transform.rows import transform_progress

    mapping = load_mapping(ROOT / "mappings" / "examples" / "structure.yaml")
    mapped, problems = transform_progress(
        {
            "k1": {
                "tasks_done": 3,
                "tasks_total": 8,
                "hours_logged": "12.50",
                "hours_estimated": 130,
                "current_phase": "Build",
            },
            "k2": {"tasks_done": "many"},
        },
        mapping,
    )
    assert mapped["k1"] == {
        "PSA_Tasks_Done__c": 3,
        "PSA_Tasks_Total__c": 8,
        "PSA_Hours_Logged__c": Decimal("12.5"),
        "PSA_Hours_Estimated__c": Decimal(130),
        "PSA_Current_Phase__c": "Build",
    }
    assert "PSA_Tasks_Done__c" not in mapped["k2"] and problems["k2"]


def test_a_tentative_deal_gets_its_structure_and_a_lost_one_is_never_held_to_its_line_items(
    tmp_path,
):
    from dataclasses import replace

    from sync.transform.structure import page_structures

    mapping = load_mapping(write(tmp_path))
    bad = deal([item("00kA0000007", quantity=-1)])
    tentative = replace(
        row(),
        record_id="006A000000AbCdTIAZ",
        key="006A000000AbCdTIAZ",
        matches=False,
        pipeline=True,
    )
    lost = replace(row(), record_id="006A000000AbCdLIAZ", key="006A000000AbCdLIAZ", matches=False)
    records = [
        {**deal([item("00kA0000001")]), "Id": tentative.record_id},
        {**bad, "Id": lost.record_id},
    ]
    kept, errors, structures = page_structures([tentative, lost], records, mapping, tentative=True)
    assert kept == [tentative, lost] and errors == []
    assert list(structures) == [tentative.record_id]
    assert structures[tentative.record_id].tasks[-1].key == "006A000000AbCdTIAZ/li:00kA0000001"
    kept, errors, structures = page_structures([tentative], records, mapping, tentative=False)
    # without tentative projects, an open deal needs no plan
    assert kept == [tentative] and structures == {}


def test_a_deal_read_through_bulk_csv_routes_and_filters_as_its_rest_json_does(tmp_path):
    text = STRUCTURE.replace("Type = 'New Customer'", "Amount > 100000 AND IsWon = true")
    rest = {
        **deal([item("00kA0000001"), item("00kA0000002", "LIC", family="Licences")]),
        "Amount": 125000.5,
        "IsWon": True,
    }
    flat = [
        {
            "Id": i["Id"],
            "Quantity": str(i["Quantity"]),
            "TotalPrice": str(i["TotalPrice"]),
            "ProductCode": i["ProductCode"],
            "Product2.Name": i["Product2"]["Name"],
            "Product2.Family": i["Product2"]["Family"],
            "ServiceDate": "",
            "SortOrder": "",
        }
        for i in rest["OpportunityLineItems"]["records"]
    ]
    csv = {
        **rest,
        "Amount": "125000.50",
        "IsWon": "true",
        "OpportunityLineItems": {"totalSize": 2, "done": True, "records": flat},
    }
    from_rest, from_csv = plan(tmp_path, rest, text), plan(tmp_path, csv, text)
    assert from_rest.template == from_csv.template == "Implementation"
    assert [(t.key, t.name, t.hours) for t in from_rest.tasks] == [
        (t.key, t.name, t.hours) for t in from_csv.tasks
    ]


def test_a_routing_value_that_cannot_be_compared_quarantines_the_deal(tmp_path):
    text = STRUCTURE.replace("Type = 'New Customer'", "Amount > 100000")
    found = reason(plan(tmp_path, {**deal([]), "Amount": "lots"}, text))
    assert found == (
        "structure: structure.templates[0] (templates/impl.yaml): when: "
        "Amount: cannot compare value 'lots' with literal 100000"
    )


def test_a_record_read_without_the_line_item_subquery_is_never_planned_as_one_without_line_items(
    tmp_path,
):
    record = deal(None)
    del record["OpportunityLineItems"]
    assert "carries no OpportunityLineItems (not even null)" in reason(plan(tmp_path, record))
    templates_only = "structure:\n  templates:\n    - file: templates/impl.yaml\n"
    # no line item read: none needed
    assert plan(tmp_path, record, templates_only).template == "Implementation"
