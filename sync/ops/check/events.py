"""`psa-sync check` with ``events.enabled``: each topic looked up through the Pub/Sub API.

One ``GetTopic`` call each, on the token ``check`` already has, so a missing Change Data Capture
selection or a missing permission is found before the daemon runs, with the fix named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sync.config import Settings
from sync.events.client import Credentials, Fault, PubSub, StreamError

if TYPE_CHECKING:
    from sync.connectors.salesforce.client import SalesforceClient
    from sync.ops.check.runner import Findings

FIX = {
    Fault.CONFIG: (
        "select the object in Setup > Integrations > Change Data Capture, and give the integration "
        "user View All Records on it (or View All Data)"
    ),
    Fault.AUTH: (
        "the token was refused by the Pub/Sub API; check the connected app's OAuth scopes (api)"
    ),
    Fault.LIMIT: (
        "the org's daily event delivery allocation is spent; the daemon polls until it frees"
    ),
}


def check_events(client: SalesforceClient, settings: Settings, findings: Findings) -> None:
    events = settings.events
    if not events.enabled or client.grant is None:
        return
    grant = client.grant
    pubsub = PubSub(
        events.pubsub_url,
        settings.salesforce.ca_bundle,
        lambda: Credentials(grant.access_token, grant.instance_url, grant.org_id),
    )
    try:
        for topic in filter(None, (events.topic, events.line_items_topic)):
            _one(pubsub, topic, events.pubsub_url, findings)
    finally:
        pubsub.close()


def _one(pubsub: PubSub, topic: str, endpoint: str, findings: Findings) -> None:
    try:
        info = pubsub.topic(topic)
    except StreamError as exc:
        code = 2 if exc.fault in (Fault.CONFIG, Fault.AUTH) else 3
        fix = FIX.get(exc.fault, f"is {endpoint} reachable from here (port 7443 or 443)?")
        findings.about("ERROR", f"events {topic}", f"{exc}; {fix}", code)
        return
    if not info.can_subscribe:
        findings.about(
            "ERROR",
            f"events {topic}",
            f"the integration user may not subscribe; {FIX[Fault.CONFIG]}",
        )
        return
    findings.about(
        "OK", f"events {topic}", f"can subscribe at {endpoint} (schema {info.schema_id[:16]})"
    )
