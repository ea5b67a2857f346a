"""The two clients a run talks through, built from the config, and what they count.

``stages.run_session`` builds them for one run; a caller that keeps them across run sessions (the
daemon's cycles, a backfill's windows) asks one token for all instead of one per run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from sync.config import Settings
from sync.connectors.http import SyncSession, build_session
from sync.connectors.psa.base import PsaConnector, get_connector
from sync.connectors.salesforce.client import SalesforceClient


class Connections:
    """Both clients, built from the config (nothing is sent yet), and the PSA calls they made.

    A caller may keep them across run sessions (the daemon's cycles, a backfill's windows): one
    token for all, not one per run. ``new_run()`` then gives each run its own call budget,
    Salesforce clock and retry windows. Unpacks as ``client, psa``.
    """

    def __init__(self, settings: Settings):
        sf_session = build_session(
            ca_bundle=settings.salesforce.ca_bundle,
            timeout=settings.http.timeout,
            retries=settings.http.retries,
        )
        self.client = SalesforceClient(
            settings.salesforce,
            sf_session,
            max_org_api_percent=settings.limits.max_org_api_percent,
            max_calls_per_run=settings.limits.max_calls_per_run,
        )
        self._psa_session = build_session(
            ca_bundle=None, timeout=settings.http.timeout, retries=settings.http.retries
        )
        self._psa_session.hooks["response"].append(self._count_psa)
        factory = get_connector(settings.psa.connector)
        self.psa: PsaConnector = factory(
            settings.psa.url, settings.psa.api_key.get(), settings.psa.options, self._psa_session
        )
        self.psa_calls = 0  # PSA requests answered, for the run rows and the metrics

    def _count_psa(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self.psa_calls += 1

    def __iter__(self) -> Iterator[Any]:
        """``client, psa``: Any, as mypy cannot type a pair unpacked through ``__iter__`` (code that
        wants the types reads ``.client`` and ``.psa``)."""
        return iter((self.client, self.psa))

    def new_run(self) -> None:
        """The next run on these kept clients (``SalesforceClient.new_run``); no call is made."""
        self.client.new_run()
        session = self._psa_session
        if isinstance(session, SyncSession) and session.retry_window is not None:
            session.retry_window.restart()


def make_clients(settings: Settings) -> Connections:
    """Both clients, built from the config; nothing is sent yet (a client's ``connect()`` asks for
    the token). Not called ``connect``: it connects nothing (docs/architecture.md, glossary)."""
    return Connections(settings)
