"""The Salesforce connector over real HTTPS against the emulator, as production builds it.

Every client here comes from ``build_session`` + ``SalesforceClient`` with the emulator's CA as
``ca_bundle``, while REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE name the system bundle (as on our
machines): the pinned bundle must win. Call counts are compared with the emulator's own counters.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.common.errors import AuthError, BudgetExceededError, ConfigError
from sync.config import SalesforceAuth, SalesforceConfig, Secret
from sync.connectors.http import build_session
from sync.connectors.salesforce.client import SalesforceClient
from sync.emulator import Emulator

pytestmark = pytest.mark.integration

SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
ALL_OPPS = (
    "SELECT Id, Name, Amount, StageName, SystemModstamp FROM Opportunity "
    "ORDER BY SystemModstamp, Id"
)


@pytest.fixture(autouse=True)
def machine_like_environment(monkeypatch):
    """Our machines set both variables; requests would let them override Session.verify."""
    if Path(SYSTEM_BUNDLE).is_file():
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", SYSTEM_BUNDLE)
        monkeypatch.setenv("CURL_CA_BUNDLE", SYSTEM_BUNDLE)


def config_for(emu: Emulator, flow: str, *, ca: bool = True) -> SalesforceConfig:
    auth = SalesforceAuth(
        flow=flow,
        username=emu.username,
        client_id=emu.client_id,
        client_secret=Secret(emu.client_secret),
        private_key_file=emu.private_key_file,
        password=Secret(emu.password),
    )
    return SalesforceConfig(
        login_url=emu.url,
        auth=auth,
        api_version=emu.api_version,
        ca_bundle=emu.ca_file if ca else None,
    )


def client_for(emu: Emulator, flow: str = "jwt", *, retries: int = 3, **limits) -> SalesforceClient:
    config = config_for(emu, flow)
    session = build_session(
        ca_bundle=config.ca_bundle, timeout=10, retries=retries, backoff_factor=0.01
    )
    return SalesforceClient(config, session, sleep=lambda seconds: None, **limits)


@pytest.fixture
def emu():
    with Emulator() as emulator:
        yield emulator


@pytest.mark.parametrize("flow", ["jwt", "client_credentials", "password"])
def test_every_flow_connects_and_learns_org_instance_and_salesforce_clock(emu, flow):
    client = client_for(emu, flow)
    client.connect()
    assert client.org_id == emu.org_id and len(client.org_id) == 18
    assert client.instance_url == emu.url
    assert abs(client.server_time - datetime.now(UTC)) < timedelta(minutes=1)
    assert client.usage.calls == {"token": 1} == emu.calls_snapshot()


def test_without_the_ca_bundle_the_emulator_is_not_trusted(emu):
    config = config_for(emu, "client_credentials", ca=False)
    session = build_session(ca_bundle=None, timeout=10, retries=0)
    with pytest.raises(ConfigError, match="ca_bundle"):
        SalesforceClient(config, session).connect()


def test_wrong_credentials_are_an_auth_error_quoting_salesforce(emu):
    config = config_for(emu, "client_credentials")
    wrong = SalesforceConfig(
        login_url=config.login_url,
        api_version=config.api_version,
        ca_bundle=config.ca_bundle,
        auth=SalesforceAuth(
            flow="client_credentials",
            client_id=emu.client_id,
            client_secret=Secret("not-the-secret"),
        ),
    )
    session = build_session(ca_bundle=config.ca_bundle, timeout=10, retries=0)
    with pytest.raises(AuthError) as caught:
        SalesforceClient(wrong, session).connect()
    assert "invalid_client" in str(caught.value) and "not-the-secret" not in str(caught.value)


@pytest.mark.parametrize("flow", ["jwt", "client_credentials"])
def test_paging_over_more_than_5000_rows_streams_every_row_once(emu, flow):
    emu.seed(5300, seed=7)
    expected = set(emu.ids("Opportunity"))
    client = client_for(emu, flow)
    client.connect()
    pages = list(client.query_pages(ALL_OPPS))
    assert [len(p) for p in pages] == [2000, 2000, len(expected) - 4000]
    seen = [r["Id"] for p in pages for r in p]
    assert len(seen) == len(set(seen)) and set(seen) == expected
    assert pages[0][0]["attributes"]["type"] == "Opportunity"
    assert client.usage.calls == {"token": 1, "queryAll": 1, "queryMore": 2} == emu.calls_snapshot()
    assert client.usage.org_used == 3 and client.usage.org_max == emu.daily_limit


def test_batch_size_asks_for_smaller_pages(emu):
    emu.seed(450, seed=1)
    client = client_for(emu)
    client.connect()
    sizes = [len(p) for p in client.query_pages(ALL_OPPS, batch_size=200)]
    assert sizes == [200, 200, 50]


def test_sessions_expiring_mid_paging_are_renewed_once_and_paging_goes_on(emu):
    emu.seed(2500, seed=3)
    client = client_for(emu)
    client.connect()
    pages = client.query_pages(ALL_OPPS)
    first = next(pages)
    emu.expire_sessions()
    rest = list(pages)
    assert len(first) + sum(map(len, rest)) == len(emu.ids("Opportunity"))
    assert client.usage.calls == {"token": 2, "queryAll": 1, "queryMore": 2} == emu.calls_snapshot()


def test_server_errors_and_resets_are_retried_by_the_session(emu):
    emu.seed(10, seed=5)
    client = client_for(emu, retries=3)
    client.connect()
    emu.fault("fail_next", n=2, status=503, endpoint="queryAll")
    assert sum(map(len, client.query_pages(ALL_OPPS))) == 10
    emu.fault("reset_next", n=1, endpoint="composite")
    first = emu.ids("Opportunity")[0]
    assert client.update("Opportunity", [{"Id": first, "PSA_Project_Id__c": "12"}])[0].success
    assert emu.get("Opportunity", first)["PSA_Project_Id__c"] == "12"
    assert emu.calls_snapshot()["queryAll"] == 3  # the session's retries reach the org too


def test_collections_update_reports_each_record(emu):
    emu.seed(450, seed=11)
    ids = emu.ids("Opportunity")
    invalid, locked = ids[5], ids[300]
    emu.fault("validation_failure", record_ids=[invalid])
    emu.fault("lock_rows", record_ids=[locked])
    client = client_for(emu)
    client.connect()
    records = [
        {"Id": i, "PSA_Project_Id__c": str(n), "PSA_Project_URL__c": f"https://psa.example/p/{n}"}
        for n, i in enumerate(ids)
    ]
    results = client.update("Opportunity", records)
    assert [r.id for r in results] == ids
    failed = {r.id: r for r in results if not r.success}
    assert set(failed) == {invalid, locked}
    assert failed[invalid].errors[0].status_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert not failed[invalid].transient and failed[locked].transient
    assert emu.get("Opportunity", ids[0])["PSA_Project_Id__c"] == "0"
    assert client.usage.calls["composite"] == 3 == emu.calls_snapshot()["composite"]


def test_the_budget_guard_stops_before_the_org_passes_its_share(emu):
    emu.seed(5, seed=2)
    emu.set_budget(used=78, max=100)
    client = client_for(emu, max_org_api_percent=80)
    client.connect()
    list(client.query_pages(ALL_OPPS))  # the org is now at 79/100
    list(client.query_pages(ALL_OPPS))  # 80/100: at the limit, not past it
    assert not client.budget_left()
    with pytest.raises(BudgetExceededError, match="used 80 of its 100"):
        list(client.query_pages(ALL_OPPS))
    assert emu.calls_snapshot()["queryAll"] == 2


def test_an_exhausted_org_budget_stops_the_run(emu):
    emu.set_budget(used=100, max=100)
    client = client_for(emu)
    client.connect()
    with pytest.raises(BudgetExceededError, match="daily API limit is spent"):
        list(client.query_pages(ALL_OPPS))


def test_an_unknown_field_is_a_config_error_naming_it(emu):
    client = client_for(emu)
    client.connect()
    with pytest.raises(ConfigError, match="Nope__c"):
        list(client.query_pages("SELECT Id, Nope__c FROM Opportunity"))


def test_describe_lists_the_fields_psa_sync_writes(emu):
    client = client_for(emu)
    client.connect()
    names = {f["name"] for f in client.describe("Opportunity")["fields"]}
    assert {"PSA_Project_Id__c", "PSA_Project_URL__c", "SystemModstamp"} <= names


def test_a_deals_line_items_are_whole_even_when_salesforce_pages_them_inside_the_record(emu):
    """simple-salesforce's query_all does not follow a nested nextRecordsUrl; the client does, once
    per parent that needs it, so a deal never reaches the page step with half its line items."""
    emu.set_nested_page(3)
    entry = emu.add_product("Consulting day", code="CD")
    many = emu.create("Opportunity", Name="Many", StageName="Closed Won", CloseDate="2026-01-10")
    few = emu.create("Opportunity", Name="Few", StageName="Closed Won", CloseDate="2026-01-10")
    none = emu.create("Opportunity", Name="None", StageName="Closed Won", CloseDate="2026-01-10")
    made = [emu.add_line_item(many, entry, quantity=1, SortOrder=i) for i in range(8)]
    emu.add_line_item(few, entry, quantity=2)
    client = client_for(emu)
    client.connect()
    emu.reset_calls()
    (page,) = client.query_pages(
        "SELECT Id, (SELECT Id, Quantity FROM OpportunityLineItems ORDER BY SortOrder, "
        "Id) FROM Opportunity ORDER BY SystemModstamp, Id"
    )
    by_id = {record["Id"]: record["OpportunityLineItems"] for record in page}
    assert [line["Id"] for line in by_id[many]["records"]] == made
    assert (by_id[many]["done"], by_id[many]["totalSize"]) == (
        True,
        8,
    ) and "nextRecordsUrl" not in by_id[many]
    assert len(by_id[few]["records"]) == 1 and by_id[none] is None
    # the first 3 lines came with the deal, the other 5 in one more call (a queryMore page: 2,000)
    assert emu.calls_snapshot() == {"queryAll": 1, "queryMore": 1}
