"""A connection kept across runs (the daemon): each run its own budget and clock, with no call."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import responses

from sync.common.errors import BudgetExceededError
from sync.connectors.salesforce.client import SalesforceClient
from tests.unit.connectors.salesforce.canned import API, NOW, add_token, make_config, page


@responses.activate
def test_a_new_run_moves_the_signpost_by_the_time_since_the_last_answer_without_a_call(
    rsa_key, session
):
    ticks = iter(
        [100.0, 130.5, 130.5]
    )  # the token answer arrives at 100, the next run starts at 130.5
    client = SalesforceClient(
        make_config("jwt", rsa_key[0]), session, now=lambda: NOW, monotonic=lambda: next(ticks)
    )
    add_token()
    client.connect()
    assert client.server_time == datetime(2026, 3, 2, 12, 0, 7, tzinfo=UTC)
    client.new_run()
    assert client.server_time == datetime(2026, 3, 2, 12, 0, 37, 500000, tzinfo=UTC)
    assert len(responses.calls) == 1  # the token call only


@responses.activate
def test_each_run_on_a_kept_connection_has_its_own_call_budget(rsa_key, session):
    client = SalesforceClient(
        make_config("jwt", rsa_key[0]), session, now=lambda: NOW, max_calls_per_run=2
    )
    add_token()
    responses.add(
        responses.GET,
        f"{API}/queryAll/",
        json=page([]),
        headers={"Date": "Mon, 02 Mar 2026 12:01:00 GMT"},
    )
    client.connect()
    for _ in range(2):
        list(client.query_pages("SELECT Id FROM Opportunity"))
    with pytest.raises(BudgetExceededError):
        list(client.query_pages("SELECT Id FROM Opportunity"))
    client.new_run()
    list(client.query_pages("SELECT Id FROM Opportunity"))  # a new run: the budget starts again
    assert client.usage.calls["queryAll"] == 3 and client.usage.total == 1
    assert client.server_time.replace(microsecond=0) >= datetime(2026, 3, 2, 12, 1, 0, tzinfo=UTC)
