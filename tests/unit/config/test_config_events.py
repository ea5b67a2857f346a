"""The ``events:`` section: defaults, the daemon's values, each bad value named with its line."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest

from sync.config import ConfigError, load_settings

ENV = {
    "SF_CLIENT_ID": "cid",
    "SF_SECRET": "s",
    "REDMINE_URL": "http://127.0.0.1:3000",
    "REDMINE_API_KEY": "k",
}
BASE = """
salesforce:
  login_url: https://login.salesforce.com
  auth: {flow: client_credentials, client_id: "${SF_CLIENT_ID}", client_secret: "${SF_SECRET}"}
psa: {connector: redmine, url: "${REDMINE_URL}", api_key: "${REDMINE_API_KEY}"}
"""


def _load(tmp_path, events: str):
    path = tmp_path / "psa-sync.yaml"
    path.write_text(textwrap.dedent(BASE) + textwrap.dedent(events))
    return load_settings(path, ENV)


def test_off_unless_enabled_with_salesforces_endpoint(tmp_path):
    events = _load(tmp_path, "").events
    assert (events.enabled, events.topic, events.pubsub_url, events.safety_poll) == (
        False,
        "/data/OpportunityChangeEvent",
        "api.pubsub.salesforce.com:7443",
        timedelta(hours=1),
    )


def test_the_daemons_values(tmp_path):
    events = _load(
        tmp_path,
        """
        events:
          enabled: true
          line_items_topic: /data/OpportunityLineItemChangeEvent
          pubsub_url: api.pubsub.salesforce.com:443
          safety_poll: 2h
          stale_after: 15m
    """,
    ).events
    assert events.enabled and events.line_items_topic == "/data/OpportunityLineItemChangeEvent"
    assert (events.pubsub_url, events.safety_poll, events.stale_after) == (
        "api.pubsub.salesforce.com:443",
        timedelta(hours=2),
        timedelta(minutes=15),
    )


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("topic: Opportunity", "is not a change event channel"),
        ("pubsub_url: api.pubsub.salesforce.com", "is not host:port"),
        ("safety_poll: 10s", "must be 1m or more"),
        ("stale_after: 0s", "must be more than 0s"),
        ("line_items_topic: 42", "must be text"),
        ("replay: latest", "replay"),
    ],
)
def test_a_bad_value_names_its_file_and_line(tmp_path, line, words):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, f"events:\n  enabled: true\n  {line}\n")
    text = str(caught.value)
    assert "psa-sync.yaml:8: events." in text and words in text, text
