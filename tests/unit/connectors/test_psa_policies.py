"""psa.options' policies the stages read (on_closed, customer): typed settings, one default each."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import requests

from sync.common.errors import ConfigError
from sync.connectors.psa.base import Policies
from sync.connectors.psa.redmine.connector import RedmineConnector
from sync.connectors.psa.tryton.connector import TrytonConnector
from sync.load.projects import LoadContext


def test_every_reader_of_on_closed_takes_its_default_from_policies():
    defaults = {
        "redmine": inspect.signature(RedmineConnector).parameters["on_closed"].default,
        "tryton": inspect.signature(TrytonConnector).parameters["on_closed"].default,
        "load": {f.name: f.default for f in dataclasses.fields(LoadContext)}["on_closed"],
        "options": Policies.of({}).on_closed,
    }
    assert set(defaults.values()) == {Policies().on_closed} == {"skip"}


def test_policies_are_read_from_psa_options():
    assert Policies.of(
        {"on_closed": "reopen_update_close", "customer": "parent_project"}
    ) == Policies(on_closed="reopen_update_close", parent_projects=True)
    assert (
        Policies.of(None) == Policies()
        and not Policies.of({"customer": "custom_field"}).parent_projects
    )


@pytest.mark.parametrize(
    "connector,secret", [(RedmineConnector, "key"), (TrytonConnector, "password")]
)
def test_both_connectors_refuse_an_unknown_on_closed_in_the_same_words(connector, secret):
    with pytest.raises(ConfigError) as refused:
        connector.from_settings(
            "http://psa.test/db", secret, {"on_closed": "reopen"}, requests.Session()
        )
    assert "psa.options.on_closed: 'reopen' must be skip or reopen_update_close" in str(
        refused.value
    )
