"""Fixtures of the Redmine connector's unit tests: canned answers, a connector, no create backoff."""

from __future__ import annotations

import pytest
import requests
import responses

from sync.connectors.psa.redmine import RedmineConnector
from tests.unit.redmine.canned import API_KEY, CUSTOM_FIELDS, URL


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{URL}/custom_fields.json", json=CUSTOM_FIELDS)
        yield mock


@pytest.fixture
def psa():
    return RedmineConnector(URL + "/", API_KEY, session=requests.Session(), write_concurrency=1)


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr("sync.connectors.psa.redmine_writes.CREATE_BACKOFF_SECONDS", 0)
