"""Fixtures of the Redmine connector's unit tests: canned answers, a connector, no backoff."""

from __future__ import annotations

import pytest
import requests
import responses

from sync.connectors.psa.redmine.connector import RedmineConnector
from tests.unit.connectors.redmine.canned import API_KEY, CUSTOM_FIELDS, URL


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.get(f"{URL}/custom_fields.json", json=CUSTOM_FIELDS)
        yield mock


@pytest.fixture
def psa():
    return RedmineConnector(URL + "/", API_KEY, session=requests.Session(), write_concurrency=1)


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr("sync.connectors.psa.redmine.writes.CREATE_BACKOFF_SECONDS", 0)


def fields_unread(rsps) -> None:
    """This test's calls need no custom field definitions: take the fixture's canned answer out, so
    that every answer the test registers must be asked for (``assert_all_requests_are_fired``)."""
    rsps.remove("GET", f"{URL}/custom_fields.json")


def never_asked(rsps, *traps) -> None:
    """Each trap (what following a redirect would reach) was never asked for; then taken out, so the
    fire-all check holds the test's other answers to being used."""
    for trap in traps:
        assert trap.call_count == 0, f"{trap.method} {trap.url} was called"
        rsps.remove(trap)
