"""An external-Id key that cannot name a project (``../../users/1``) is quarantined with a reason
naming it, and never reaches Redmine; the good deal on the same page gets its project."""

import pytest

from tests.fixtures.sync import mapping_variant

pytestmark = pytest.mark.integration

BAD_KEY = "../../users/1"


def test_a_key_that_cannot_be_an_identifier_is_quarantined_and_no_request_leaves_the_projects(
    harness, emulator, redmine, redmine_proxy, tmp_path
):
    emulator.register_field("Opportunity", "External_Id__c", "string", length=255)
    harness.write_config(mapping=mapping_variant(tmp_path, ("key: Id", "key: External_Id__c")))
    harness.extra_env["REDMINE_URL"] = redmine_proxy.url

    def deal(name, key):
        return emulator.create(
            "Opportunity",
            Name=name,
            StageName="Closed Won",
            CloseDate="2026-03-01",
            Type="New Customer",
            Amount=1000,
            External_Id__c=key,
        )

    bad = deal("Bad key", BAD_KEY)
    good = deal("Good key", "PR-0042")

    result = harness.run(expect=1)
    assert "quarantined 1" in result.stdout

    [quarantined] = harness.status()["quarantine"]
    assert quarantined["opportunity_id"] == bad
    assert f"External_Id__c: key '{BAD_KEY}' cannot name a PSA project" in quarantined["error"]
    identifiers = {p["identifier"] for p in redmine.projects()}
    assert "sf-pr-0042" in identifiers and not any("users" in i for i in identifiers)
    assert emulator.get("Opportunity", good)["PSA_Project_Id__c"]
    assert not emulator.get("Opportunity", bad)["PSA_Project_Id__c"]
    paths = [target.split("?", 1)[0] for _, target in redmine_proxy.seen]
    assert paths and not [p for p in paths if "users" in p], paths
