"""The connectors fill the protocols the stages are written against, names and parameters alike.

``isinstance`` on a runtime-checkable protocol only sees that each member exists; the stages also
call by keyword (``include_deleted=``, ``fields=``), so parameter names are held against the
protocol too.
"""

from __future__ import annotations

import inspect

import requests

from sync.config import SalesforceAuth, SalesforceConfig, Secret
from sync.connectors.base import SalesforceApi
from sync.connectors.psa.base import PsaConnector
from sync.connectors.psa.redmine.connector import RedmineConnector
from sync.connectors.salesforce.client import SalesforceClient
from tests.fixtures.fake_psa import FakePsa


def methods(protocol: type) -> list[str]:
    return [
        name
        for name, value in vars(protocol).items()
        if inspect.isfunction(value) and not name.startswith("_")
    ]


def assert_fills(obj: object, protocol: type) -> None:
    assert isinstance(obj, protocol)
    for name in methods(protocol):
        wanted = list(inspect.signature(getattr(protocol, name)).parameters)[1:]  # without self
        assert list(inspect.signature(getattr(obj, name)).parameters) == wanted, name


def test_the_salesforce_client_fills_salesforce_api():
    config = SalesforceConfig(
        login_url="https://login.example",
        auth=SalesforceAuth(
            flow="client_credentials", client_id="app", client_secret=Secret("s3cret-value")
        ),
    )
    assert_fills(SalesforceClient(config, requests.Session()), SalesforceApi)
    assert set(methods(SalesforceApi)) == {
        "connect",
        "query_pages",
        "bulk_query_pages",
        "count",
        "update",
        "describe",
        "budget_left",
    }


def test_the_redmine_connector_fills_psa_connector():
    assert_fills(
        RedmineConnector("http://redmine.test", "key", session=requests.Session()), PsaConnector
    )
    assert {"identifier", "ensure_parent"} <= set(methods(PsaConnector))


def test_the_fake_psa_fills_psa_connector():
    assert_fills(FakePsa(), PsaConnector)


def test_the_tryton_connector_fills_psa_connector():
    from sync.connectors.psa.tryton.connector import TrytonConnector

    assert_fills(
        TrytonConnector("http://tryton.test/psa", "pw", session=requests.Session()), PsaConnector
    )
