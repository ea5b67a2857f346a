"""Config values of the right type that would still make psa-sync useless or quietly wrong: refused
at load with the range or the reason, so a person fixes them before a run, not after many."""

from __future__ import annotations

import pytest

from sync.config import load_settings
from tests.fixtures.configs import ENV, edited, problems_of, short

STATE = "state: state/s.sqlite"


def limits(tmp_path, text):
    return edited(tmp_path, (STATE, f"{STATE}\nlimits: {text}"))


@pytest.mark.parametrize("calls", [0, -1, 1])
def test_a_call_cap_below_two_is_refused_saying_the_minimum(tmp_path, calls):
    path = limits(tmp_path, f"{{max_calls_per_run: {calls}}}")
    assert short(path, problems_of(path)) == [
        f"14: limits.max_calls_per_run: {calls} is less than 2: "
        "a run needs at least 2 Salesforce data calls to make progress "
        "(one query page and one write-back)"
    ]


def test_a_call_cap_of_two_is_the_least_accepted(tmp_path):
    assert (
        load_settings(limits(tmp_path, "{max_calls_per_run: 2}"), ENV).limits.max_calls_per_run == 2
    )


@pytest.mark.parametrize("percent", ["0", "-5", "100.5", "1000"])
def test_an_org_share_outside_0_to_100_is_refused_saying_the_range(tmp_path, percent):
    path = limits(tmp_path, f"{{max_org_api_percent: {percent}}}")
    assert short(path, problems_of(path)) == [
        f"14: limits.max_org_api_percent: {float(percent)!r} is outside (0, 100]: "
        "the share of the org's daily API requests a run may reach, more than 0 and at most 100"
    ]


@pytest.mark.parametrize("percent", [100, 0.5])
def test_an_org_share_up_to_100_is_accepted(tmp_path, percent):
    path = limits(tmp_path, f"{{max_org_api_percent: {percent}}}")
    assert load_settings(path, ENV).limits.max_org_api_percent == percent


def test_the_readme_limits_are_accepted(tmp_path):
    settings = load_settings(
        limits(tmp_path, "{max_org_api_percent: 80, max_calls_per_run: 5000}"), ENV
    )
    assert (settings.limits.max_org_api_percent, settings.limits.max_calls_per_run) == (80.0, 5000)


# --- ${VAR} set but empty -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, line, key",
    [
        ("SF_CLIENT_ID", 6, "salesforce.auth.client_id"),
        ("SF_CLIENT_SECRET", 7, "salesforce.auth.client_secret"),
        ("REDMINE_URL", 10, "psa.url"),
        ("REDMINE_API_KEY", 11, "psa.api_key"),
    ],
)
def test_a_variable_that_is_set_but_empty_is_named_as_such(tmp_path, name, line, key):
    path = edited(tmp_path)
    assert short(path, problems_of(path, {**ENV, name: ""})) == [
        f"{line}: {key}: environment variable {name} is set but empty"
    ]


def test_a_variable_of_only_blanks_is_empty_too(tmp_path):
    path = edited(tmp_path)
    assert short(path, problems_of(path, {**ENV, "REDMINE_API_KEY": " \n"})) == [
        "11: psa.api_key: environment variable REDMINE_API_KEY is set but empty"
    ]


def test_an_empty_variable_inside_a_longer_value_is_named_too(tmp_path):
    path = edited(tmp_path, (STATE, "state: ${STATE_DIR}/s.sqlite"))
    assert short(path, problems_of(path, {**ENV, "STATE_DIR": ""})) == [
        "13: state: environment variable STATE_DIR is set but empty"
    ]


# --- numbers too large for a float (found by tests/unit/config/test_config_fuzz.py) ---------------

HUGE = "3" + "0" * 400


def test_a_whole_number_too_large_for_a_float_is_still_a_whole_number(tmp_path):
    path = edited(tmp_path, ("retries: 2", f"retries: {HUGE}"))
    assert load_settings(path, ENV).http.retries == int(HUGE)


def test_a_percentage_too_large_for_a_float_is_refused(tmp_path):
    path = limits(tmp_path, f"{{max_org_api_percent: {HUGE}}}")
    assert short(path, problems_of(path)) == [
        f"14: limits.max_org_api_percent: {HUGE} is too large"
    ]


@pytest.mark.parametrize(
    "text", ["{port: 9464, address: }", "{port: 9464, address: ''}", "{port: 9464}"]
)
def test_an_empty_metrics_address_is_the_default_not_the_string_none(tmp_path, text):
    path = edited(tmp_path, (STATE, f"{STATE}\nmetrics: {text}"))
    assert load_settings(path, ENV).metrics.address == "127.0.0.1"
