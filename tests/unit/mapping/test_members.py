"""The mapping's members: grammar and file:line:key messages, the describe check (a lookup to User),
and load putting people on projects through the in-memory PSA — a user with no PSA account is
reported, never a failure."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from sync.common.errors import MappingError
from sync.common.yamldoc import load_yaml
from sync.load.members import NO_ACCOUNT, MembersPsa, unmatched
from sync.load.projects import LoadContext, LoadReport, create_projects, update_projects
from sync.mapping import load_mapping
from sync.ops.check.members import check_member_roles, check_members
from sync.ops.check.runner import CheckResult, Findings
from sync.state import State
from sync.transform.diff import plan_changes
from sync.transform.rows import transform
from tests.fixtures.fake_psa import FakePsa
from tests.fixtures.sync import DEFAULT_MAPPING, line_of, mapping_variant

MEMBERS = """
members:
  owner: {from: OwnerId, role: Manager}
  delivery_lead: {from: Delivery_Lead__c, role: Developer}
"""


def with_members(tmp_path: Path, text: str = MEMBERS) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(DEFAULT_MAPPING.read_text() + text)
    return path


def test_members_are_read_through_the_run_query_and_carried_in_the_payload(tmp_path):
    mapping = load_mapping(with_members(tmp_path))
    assert {"Owner.Email", "Delivery_Lead__r.Email"} <= set(mapping.soql_fields())
    assert mapping.fingerprint != load_mapping(DEFAULT_MAPPING).fingerprint
    record = {
        "Id": "006000000000001AAA",
        "SystemModstamp": "2026-05-01T00:00:00.000+0000",
        "IsDeleted": False,
        "IsWon": True,
        "Name": "Deal",
        "Amount": 10,
        "CloseDate": "2026-05-01",
        "Type": "New Customer",
        "Owner": {"Email": " Alice@Example.COM "},
        "Delivery_Lead__r": None,
    }
    row = transform([record], mapping).rows[0]
    assert row.fields["member.owner"] == "alice@example.com"
    assert row.fields["member.delivery_lead"] is None


def test_a_mapping_without_members_keeps_its_fingerprint(tmp_path):
    plain = mapping_variant(
        tmp_path, ("conflicts: crm_wins", "conflicts: crm_wins  # same meaning")
    )
    assert load_mapping(plain).fingerprint == load_mapping(DEFAULT_MAPPING).fingerprint


@pytest.mark.parametrize(
    ("text", "needle", "expected"),
    [
        (
            "  lead: {from: Amount, role: Developer}\n",
            "lead:",
            "members.lead.from: "
            "'Amount' is not a lookup field: name the User lookup itself, such as OwnerId",
        ),
        (
            "  lead: {from: OwnerId}\n",
            "lead:",
            "members.lead.role: missing: the PSA role's name, e.g. role: Manager",
        ),
        (
            "  lead: {from: OwnerId, role: Manager, sync: sometimes}\n",
            "lead:",
            "members.lead.sync: 'sometimes' is not one of: always, on_create",
        ),
        (
            "  Lead: {from: OwnerId, role: Manager}\n",
            "Lead:",
            "members.Lead: 'Lead' is not a member name",
        ),
    ],
)
def test_a_bad_member_names_file_line_and_key(tmp_path, text, needle, expected):
    path = with_members(tmp_path, "members:\n" + text)
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert any(
        p.startswith(f"{path}:{line_of(path, needle)}: {expected}") for p in caught.value.problems
    ), caught.value.problems


def _describe(**fields: dict) -> dict[str, dict]:
    base = {
        "ownerid": {
            "name": "OwnerId",
            "type": "reference",
            "referenceTo": ["User"],
            "relationshipName": "Owner",
        }
    }
    return {**base, **{name.lower(): {"name": name, **spec} for name, spec in fields.items()}}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"type": "date"}, "Opportunity.Delivery_Lead__c is a date field, not a lookup to User"),
        (
            {
                "type": "reference",
                "referenceTo": ["Account"],
                "relationshipName": "Delivery_Lead__r",
            },
            "Opportunity.Delivery_Lead__c is a lookup to Account, not a lookup to User",
        ),
        (None, "Opportunity has no field 'Delivery_Lead__c'"),
    ],
)
def test_check_refuses_a_member_that_is_not_a_user_lookup_at_its_line(tmp_path, spec, expected):
    path = with_members(tmp_path)
    mapping = load_mapping(path)
    result = CheckResult()
    findings = Findings(result, path, load_yaml(path, "mapping"))
    check_members(_describe(**({"Delivery_Lead__c": spec} if spec else {})), mapping, findings)
    errors = [f for f in result.findings if f.level == "ERROR"]
    assert len(errors) == 1, result.findings
    assert errors[0].where == f"{path}:{line_of(path, 'delivery_lead:')}"
    assert errors[0].key == "members.delivery_lead.from" and errors[0].message.startswith(expected)


def test_check_accepts_user_lookups(tmp_path):
    mapping = load_mapping(with_members(tmp_path))
    result = CheckResult()
    lead = {"type": "reference", "referenceTo": ["User"], "relationshipName": "Delivery_Lead__r"}
    check_members(_describe(Delivery_Lead__c=lead), mapping, Findings(result, tmp_path / "m.yaml"))
    assert result.findings == []


def test_check_refuses_a_role_the_psa_does_not_have_at_its_line(tmp_path):
    path = with_members(
        tmp_path, MEMBERS.replace("role: Developer", "role: developer").replace("Manager", "Boss")
    )
    result = CheckResult()
    findings = Findings(result, path, load_yaml(path, "mapping"))
    check_member_roles(FakePsa("http://psa.test"), load_mapping(path), findings)
    # `developer` is Developer: roles match ignoring case, as the run matches them
    [error] = result.findings
    assert (error.level, error.key, error.where) == (
        "ERROR",
        "members.owner.role",
        f"{path}:{line_of(path, 'owner:')}",
    )
    assert (
        error.message
        == "the PSA has no role 'Boss' (its roles: Developer, Manager, Reporter); name one of them"
    )


def test_check_warns_that_a_psa_without_members_only_reports_them(tmp_path):
    class NoMembers:  # a connector without role_names: its projects have no members (Tryton's)
        pass

    result = CheckResult()
    check_member_roles(
        NoMembers(), load_mapping(with_members(tmp_path)), Findings(result, tmp_path / "m.yaml")
    )
    assert [(f.level, f.key) for f in result.findings] == [("WARN", "members")]


def _record(n: int, owner: str | None, lead: str | None, amount: int = 10) -> dict:
    return {
        "Id": f"00600000000000{n}AAA",
        "SystemModstamp": "2026-05-01T00:00:00.000+0000",
        "IsDeleted": False,
        "IsWon": True,
        "Name": f"Deal {n}",
        "Amount": amount,
        "CloseDate": "2026-05-01",
        "Type": "New Customer",
        "Owner": {"Email": owner} if owner else None,
        "Delivery_Lead__r": {"Email": lead} if lead else None,
    }


def _load(state: State, psa: FakePsa, mapping, records: list[dict], run_id: int) -> LoadReport:
    wrapped = MembersPsa(psa, mapping.members, state, run_id)
    ctx = LoadContext(
        state=state,
        psa=wrapped,
        run_id=run_id,
        writeback=mapping.writeback,
        on_create=mapping.on_create_fields(),
        fingerprint=mapping.fingerprint,
    )
    rows = transform(records, mapping).rows
    plan = plan_changes(
        rows,
        state.links(r.record_id for r in rows),
        writeback=mapping.writeback,
        on_create=mapping.on_create_fields(),
    )
    report = LoadReport()
    create_projects(ctx, plan.creates, psa.identifier, report)
    update_projects(ctx, plan.updates, report)
    return report


def test_load_puts_members_on_a_new_project_and_reports_a_user_with_no_psa_account(tmp_path):
    mapping = load_mapping(with_members(tmp_path))
    state = State.open(tmp_path / "s.sqlite")
    psa = FakePsa()
    psa.users = {"alice@example.com": 11, "bob@example.com": 12}
    records = [
        _record(1, "alice@example.com", "bob@example.com"),
        _record(2, "carol@example.com", "bob@example.com"),
    ]
    report = _load(state, psa, mapping, records, run_id=1)
    assert len(report.created) == 2 and report.failed == {}  # carol is no reason to fail the deal
    one, two = (r["Id"] for r in records)
    assert psa.members[one] == {11: {"Manager"}, 12: {"Developer"}}
    assert psa.members[two] == {12: {"Developer"}}
    # the project's own fields only
    assert all(not k.startswith("member.") for k in psa.values[one])
    events = [e for e in state.events(two) if e["action"] == "members"]
    assert [e["outcome"] for e in events] == ["updated", NO_ACCOUNT]
    assert events[1]["detail"]["missing"] == {
        "owner": {"email": "carol@example.com", "role": "Manager"}
    }
    assert state.links([one])[one].payload["member.owner"] == "alice@example.com"
    assert unmatched(state) == [
        {"record_id": two, "member": "owner", "email": "carol@example.com", "role": "Manager"}
    ]


def test_a_new_owner_joins_under_sync_always_and_not_under_on_create(tmp_path):
    for sync, joins in (("always", True), ("on_create", False)):
        folder = tmp_path / sync
        folder.mkdir()
        mapping = load_mapping(
            with_members(
                folder, f"members:\n  owner: {{from: OwnerId, role: Manager, sync: {sync}}}\n"
            )
        )
        state = State.open(folder / "s.sqlite")
        psa = FakePsa()
        psa.users = {"alice@example.com": 11, "dave@example.com": 14}
        _load(state, psa, mapping, [_record(1, "alice@example.com", None)], run_id=1)
        report = _load(
            state, psa, mapping, [_record(1, "dave@example.com", None, amount=20)], run_id=2
        )
        deal = _record(1, None, None)["Id"]
        assert report.updated == [deal] and psa.values[deal]["budget"] == Decimal(20)
        assert (14 in psa.members[deal]) is joins
        assert psa.members[deal][11] == {"Manager"}  # nobody is removed


def test_an_adopted_project_gets_its_members_too(tmp_path):
    """A crash after the PSA's 201 and before the members: the next run adopts the project, and the
    adoption's push carries the member values the PSA does not hold."""
    mapping = load_mapping(with_members(tmp_path))
    state = State.open(tmp_path / "s.sqlite")
    psa = FakePsa()
    psa.users = {"alice@example.com": 11}
    record = _record(1, "alice@example.com", None)
    psa.add(record["Id"], {"name": "Deal 1"})  # made before the state knew it
    report = _load(state, psa, mapping, [record], run_id=1)
    assert report.adopted == [record["Id"]] and psa.created == []
    assert psa.members[record["Id"]] == {11: {"Manager"}}
