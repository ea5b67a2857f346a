"""People on the project, end to end (emulator + real Redmine, the CLI as cron runs it): a won
deal's project gets the deal owner as Manager and its Delivery_Lead__c as Developer, matched by
e-mail; a user with no Redmine account is reported (event, status, explain), never a failed run; and
the e-mails cost no Salesforce call: they come with the run's one query."""

from __future__ import annotations

import uuid

import pytest

from tests.fixtures.sync import DEFAULT_MAPPING

pytestmark = pytest.mark.integration

MEMBERS = """
members:
  owner: {from: OwnerId, role: Manager}
  delivery_lead: {from: Delivery_Lead__c, role: Developer}
"""


def redmine_user(redmine, name: str, email: str) -> int:
    body = {
        "user": {
            "login": f"{name}-{uuid.uuid4().hex[:8]}",
            "firstname": name.title(),
            "lastname": "Test",
            "mail": email,
            "password": "a-long-test-password-1",
        }
    }
    return redmine._ok("POST", "/users.json", body)["user"]["id"]


def sf_user(emulator, name: str, email: str) -> str:
    return emulator.create(
        "User", Username=f"{name}@org.example", LastName=name.title(), Email=email, IsActive=True
    )


def members_of(redmine, project_id: int) -> dict[int, set[str]]:
    body = redmine._ok("GET", f"/projects/{project_id}/memberships.json", limit=100)
    return {
        m["user"]["id"]: {r["name"] for r in m["roles"]}
        for m in body["memberships"]
        if m.get("user")
    }


def test_a_won_deal_gets_its_owner_and_delivery_lead_and_a_missing_user_is_reported(
    harness, emulator, redmine, tmp_path
):
    emulator.register_field(
        "Opportunity",
        "Delivery_Lead__c",
        "reference",
        reference_to="User",
        relationship_name="Delivery_Lead__r",
    )
    tag = uuid.uuid4().hex[:6]
    alice, bob, carol = (f"{n}.{tag}@example.com" for n in ("alice", "bob", "carol"))
    alice_id, bob_id = (
        redmine_user(redmine, "alice", alice.upper()),
        redmine_user(redmine, "bob", bob),
    )
    sf = {
        email: sf_user(emulator, name, email)
        for name, email in (("alice", alice), ("bob", bob), ("carol", carol))
    }
    staffed = emulator.create(
        "Opportunity",
        Name="Staffed",
        Amount=1000,
        CloseDate="2026-03-01",
        StageName="Closed Won",
        Type="New Customer",
        OwnerId=sf[alice],
        Delivery_Lead__c=sf[bob],
    )
    orphan = emulator.create(
        "Opportunity",
        Name="Owner not in Redmine",
        Amount=2000,
        CloseDate="2026-03-02",
        StageName="Closed Won",
        Type="New Customer",
        OwnerId=sf[carol],
        Delivery_Lead__c=sf[bob],
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(DEFAULT_MAPPING.read_text() + MEMBERS)
    harness.mapping = mapping
    emulator.reset_calls()

    first = harness.run(expect=0)  # carol has no Redmine account: reported, not a failure

    assert emulator.calls_snapshot() == {"token": 1, "queryAll": 1, "composite": 1}, first.stderr
    projects = {p["identifier"]: p["id"] for p in redmine.projects()}
    staffed_project, orphan_project = (
        projects["sf-" + staffed.lower()],
        projects["sf-" + orphan.lower()],
    )
    assert members_of(redmine, staffed_project) == {alice_id: {"Manager"}, bob_id: {"Developer"}}
    assert members_of(redmine, orphan_project) == {bob_id: {"Developer"}}

    explained = harness.explain(orphan)
    missing = [
        e for e in explained["events"] if e["action"] == "members" and e["outcome"] == "no-psa-user"
    ]
    assert missing and missing[0]["detail"]["missing"] == {
        "owner": {"email": carol, "role": "Manager"}
    }
    status = harness.status()
    assert status["members_unmatched"] == [
        {"record_id": orphan, "member": "owner", "email": carol, "role": "Manager"}
    ]

    # The owner changes to bob (sync: always): bob is made Manager too next run; nobody leaves.
    emulator.update("Opportunity", staffed, OwnerId=sf[bob])
    harness.run(expect=0)
    assert members_of(redmine, staffed_project) == {
        alice_id: {"Manager"},
        bob_id: {"Developer", "Manager"},
    }


def test_members_cost_no_salesforce_call_against_the_emulator(emulator, tmp_path, monkeypatch):
    """The same deals through the run's own entry point and the in-memory PSA (no Redmine needed):
    the e-mails come with the one query, whatever the relationship (standard Owner, custom __r)."""
    from types import SimpleNamespace

    from sync.config import load_settings
    from sync.orchestrator.connections import Connections
    from sync.orchestrator.stages import run_once
    from tests.fixtures.fake_psa import FakePsa
    from tests.fixtures.sync import SyncHarness

    monkeypatch.chdir(tmp_path)
    emulator.register_field(
        "Opportunity",
        "Delivery_Lead__c",
        "reference",
        reference_to="User",
        relationship_name="Delivery_Lead__r",
    )
    alice, bob = (
        sf_user(emulator, "alice", "Alice@Example.com"),
        sf_user(emulator, "bob", "bob@example.com"),
    )
    deal = emulator.create(
        "Opportunity",
        Name="Staffed",
        Amount=1000,
        CloseDate="2026-03-01",
        StageName="Closed Won",
        Type="New Customer",
        OwnerId=alice,
        Delivery_Lead__c=bob,
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(DEFAULT_MAPPING.read_text() + MEMBERS)
    dry = SimpleNamespace(env=SimpleNamespace(url="http://127.0.0.1:9", api_key="not-a-key"))
    harness = SyncHarness(emu=emulator, redmine=dry, workdir=tmp_path, mapping=mapping)
    harness.write_config()
    settings = load_settings(harness.config, environ=harness.env())
    connections = Connections(settings)
    psa = connections.psa = FakePsa("http://127.0.0.1:9")
    psa.users = {"alice@example.com": 1, "bob@example.com": 2}
    emulator.reset_calls()
    result = run_once(settings, connected=connections)
    assert result.exit_code == 0, result.error
    assert emulator.calls_snapshot() == {"token": 1, "queryAll": 1, "composite": 1}
    assert psa.members[deal] == {1: {"Manager"}, 2: {"Developer"}}


def test_check_refuses_a_member_field_that_is_not_a_user_lookup(harness, emulator, tmp_path):
    """`check` against the emulator's describe: Delivery_Lead__c is a date, not a lookup to User."""
    import json

    from tests.fixtures.sync import line_of

    emulator.register_field("Opportunity", "Delivery_Lead__c", "date")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(DEFAULT_MAPPING.read_text() + MEMBERS)
    harness.mapping = mapping
    done = harness.cli("check", "--json")
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [f for f in json.loads(done.stdout)["findings"] if f["level"] == "ERROR"]
    mine = [f for f in errors if f.get("key") == "members.delivery_lead.from"]
    assert mine and mine[0]["where"] == f"{mapping}:{line_of(mapping, 'delivery_lead:')}", errors
    assert mine[0]["message"].startswith(
        "Opportunity.Delivery_Lead__c is a date field, not a lookup to User"
    )
    assert not [f for f in errors if f.get("key", "").startswith("members.owner")]  # OwnerId is one


def test_check_refuses_a_role_redmine_does_not_have_and_names_its_roles(
    harness, emulator, tmp_path
):
    """The roles come from Redmine's /roles.json (Debian's: Manager, Developer, Reporter)."""
    import json

    from tests.fixtures.sync import line_of

    emulator.register_field(
        "Opportunity",
        "Delivery_Lead__c",
        "reference",
        reference_to="User",
        relationship_name="Delivery_Lead__r",
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        DEFAULT_MAPPING.read_text() + MEMBERS.replace("role: Manager", "role: Managr")
    )
    harness.mapping = mapping
    done = harness.cli("check", "--json")
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [f for f in json.loads(done.stdout)["findings"] if f["level"] == "ERROR"]
    assert [f["key"] for f in errors] == ["members.owner.role"], errors
    assert errors[0]["where"] == f"{mapping}:{line_of(mapping, 'owner:')}"
    assert errors[0]["message"].startswith("the PSA has no role 'Managr' (its roles: ")
    assert "Manager" in errors[0]["message"] and "Developer" in errors[0]["message"]
