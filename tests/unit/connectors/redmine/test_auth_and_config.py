"""The Redmine connector's refusals, custom fields and options."""

from __future__ import annotations

import pytest
import requests
import responses

from sync.common.errors import AuthError, ConfigError
from sync.connectors.psa.base import get_connector
from sync.connectors.psa.redmine.connector import RedmineConnector
from tests.unit.connectors.redmine.canned import API_KEY, CUSTOM_FIELDS, URL

# --- auth and config ------------------------------------------------------------------------------


def test_a_401_is_an_auth_error_without_the_key(psa):
    with responses.RequestsMock() as rsps:
        rsps.get(f"{URL}/custom_fields.json", status=401)
        with pytest.raises(AuthError) as raised:
            psa.describe()
    assert API_KEY not in str(raised.value) and "psa.api_key" in str(raised.value)


def test_a_non_admin_api_user_is_told_to_be_admin(psa):
    with responses.RequestsMock() as rsps:
        rsps.get(f"{URL}/custom_fields.json", status=403)
        with pytest.raises(AuthError, match="administrator"):
            psa.describe()


def test_custom_fields_resolve_once_and_a_missing_default_is_just_absent(rsps, psa):
    specs = psa.describe()
    psa.describe()
    assert len(rsps.calls) == 1
    assert "salesforce_status" not in specs and specs["billing_type"].required


def test_a_missing_key_field_is_a_config_error_saying_what_to_do(psa):
    with responses.RequestsMock() as rsps:
        rsps.get(
            f"{URL}/custom_fields.json", json={"custom_fields": CUSTOM_FIELDS["custom_fields"][1:]}
        )
        with pytest.raises(
            ConfigError, match="custom_fields.key: .*'Salesforce Opportunity Id'. Create it"
        ):
            psa.describe()


def test_bad_options_are_reported_together():
    with pytest.raises(ConfigError) as raised:
        RedmineConnector(
            URL, API_KEY, session=requests.Session(), identifier_prefix="SF_", write_concurrency=0
        )
    assert len(raised.value.problems) == 2


def test_from_settings_refuses_unknown_options_and_the_registry_unknown_names():
    factory = get_connector("redmine")
    with pytest.raises(ConfigError, match="unknown option"):
        factory(URL, API_KEY, {"concurrency": 2}, requests.Session())
    with pytest.raises(ConfigError, match="unknown connector 'jira'"):
        get_connector("jira")


def test_the_url_is_normalised_for_the_state_guard():
    psa = RedmineConnector(
        "HTTP://Redmine.Example.COM/redmine/", API_KEY, session=requests.Session()
    )
    assert psa.url == "http://redmine.example.com/redmine"
