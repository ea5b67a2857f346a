"""A config value of the wrong type, a section that is not a mapping, a file that cannot be read as
text: each is one clear ``file:line: key: message`` problem (exit 2), never a traceback."""

from __future__ import annotations

import pytest

from sync.common.errors import MappingError
from sync.config import ConfigError, load_settings
from sync.mapping import load_mapping
from tests.fixtures.configs import BASE, ENV, edited, problems_of, short, write

SALESFORCE_SECTION = BASE[BASE.index("salesforce:") : BASE.index("psa:")]
PSA_SECTION = BASE[BASE.index("psa:") : BASE.index("mapping:")]
LOGIN = "login_url: https://login.salesforce.com"

WRONG_TYPES = {
    "mapping_is_a_list": (
        ("mapping: mappings/m.yaml", "mapping: [a]"),
        ["12: mapping: must be a file path, not a list"],
    ),
    "mapping_is_a_mapping": (
        ("mapping: mappings/m.yaml", "mapping: {a: 1}"),
        ["12: mapping: must be a file path, not a mapping"],
    ),
    "mapping_is_a_boolean": (
        ("mapping: mappings/m.yaml", "mapping: true"),
        ["12: mapping: must be a file path, not a boolean"],
    ),
    "state_is_a_number": (
        ("state: state/s.sqlite", "state: 5"),
        ["13: state: must be a file path, not a number"],
    ),
    "state_is_a_date": (
        ("state: state/s.sqlite", "state: 2024-01-01"),
        ["13: state: must be a file path, not a date"],
    ),
    "state_holds_a_nul": (
        ("state: state/s.sqlite", 'state: "a\\0b"'),
        ["13: state: a file path cannot hold a NUL character"],
    ),
    "login_url_is_a_number": (
        (LOGIN, "login_url: 5"),
        ["3: salesforce.login_url: must be text, not a number"],
    ),
    "token_url_is_a_number": (
        (LOGIN, f"{LOGIN}\n  token_url: 5"),
        ["4: salesforce.token_url: must be text, not a number"],
    ),
    "audience_is_a_list": (
        (LOGIN, f"{LOGIN}\n  audience: [a]"),
        ["4: salesforce.audience: must be text, not a list"],
    ),
    "api_version_is_a_list": (
        (LOGIN, f"{LOGIN}\n  api_version: [62]"),
        ['4: salesforce.api_version: must be an API version such as "62.0", not a list'],
    ),
    "api_version_is_not_one": (
        (LOGIN, f"{LOGIN}\n  api_version: latest"),
        ["4: salesforce.api_version: 'latest' is not an API version such as \"62.0\""],
    ),
    "ca_bundle_is_a_number": (
        (LOGIN, f"{LOGIN}\n  ca_bundle: 5"),
        ["4: salesforce.ca_bundle: must be a file path, not a number"],
    ),
    "ca_bundle_is_a_list": (
        (LOGIN, f"{LOGIN}\n  ca_bundle: [a.pem]"),
        ["4: salesforce.ca_bundle: must be a file path, not a list"],
    ),
    "flow_is_a_list": (
        ("flow: client_credentials", "flow: [jwt]"),
        ["5: salesforce.auth.flow: must be text, not a list"],
    ),
    "client_id_is_a_list": (
        ("client_id: ${SF_CLIENT_ID}", "client_id: [a]"),
        ["6: salesforce.auth.client_id: must be text, not a list"],
    ),
    "private_key_file_is_a_number": (
        (
            "flow: client_credentials",
            "flow: jwt\n    username: u@example.com\n    private_key_file: 5",
        ),
        ["7: salesforce.auth.private_key_file: must be a file path, not a number"],
    ),
    "connector_is_a_list": (
        ("connector: redmine", "connector: [redmine]"),
        ["9: psa.connector: must be text, not a list"],
    ),
    "psa_url_is_a_number": (
        ("url: ${REDMINE_URL}", "url: 5"),
        ["10: psa.url: must be text, not a number"],
    ),
    "api_key_file_is_a_list": (
        ("api_key: ${REDMINE_API_KEY}", "api_key_file: [a]"),
        ["11: psa.api_key_file: must be a file path, not a list"],
    ),
    "an_option_name_is_a_number": (
        ("connector: redmine", "connector: redmine\n  options: {1: x}"),
        ["10: psa.options.1: an option name must be text"],
    ),
    "retries_is_a_fraction": (
        ("retries: 2", "retries: 2.5"),
        ["15: http.retries: 2.5 is not a whole number"],
    ),
    "retries_is_a_boolean": (
        ("retries: 2", "retries: true"),
        ["15: http.retries: must be a number, not a boolean"],
    ),
    "retries_is_infinite": (
        ("retries: 2", "retries: .inf"),
        ["15: http.retries: inf is not a whole number"],
    ),
    "retries_is_negative": (("retries: 2", "retries: -1"), ["15: http.retries: -1 is less than 0"]),
    "timeout_is_zero": (("timeout: 10s", "timeout: 0"), ["15: http.timeout: must be more than 0s"]),
    "interval_is_negative": (
        ("interval: 2m", "interval: -5"),
        ["14: schedule.interval: -5 is negative; a duration is 0 or more"],
    ),
    "interval_is_too_long": (
        ("interval: 2m", "interval: 99999999999999999d"),
        ["14: schedule.interval: '99999999999999999d' is too long a duration"],
    ),
    "interval_is_a_list": (
        ("interval: 2m", "interval: [1]"),
        ["14: schedule.interval: must be a duration such as 10m, not a list"],
    ),
    "a_top_level_key_is_a_number": (
        ("state: state/s.sqlite", "state: state/s.sqlite\n1: 2"),
        [
            "14: 1: unknown key; valid keys: events, forecast, http, limits, mapping, "
            "metrics, psa, retention, salesforce, schedule, state"
        ],
    ),
    "keys_of_mixed_types_in_a_section": (
        ("http: {timeout: 10s, retries: 2}", "http: {1: a, b: c}"),
        [
            "15: http.1: unknown key; valid keys: retries, timeout",
            "15: http.b: unknown key; valid keys: retries, timeout",
        ],
    ),
}


@pytest.mark.parametrize("replacement, expected", WRONG_TYPES.values(), ids=WRONG_TYPES)
def test_a_value_of_the_wrong_type_is_one_problem_at_its_line(tmp_path, replacement, expected):
    path = edited(tmp_path, replacement)
    assert short(path, problems_of(path)) == expected


NOT_SECTIONS = {
    "salesforce_is_a_list": (
        (SALESFORCE_SECTION, "salesforce: [a]\n"),
        ["2: salesforce: must be a mapping, not a list"],
    ),
    "salesforce_is_a_number": (
        (SALESFORCE_SECTION, "salesforce: 5\n"),
        ["2: salesforce: must be a mapping, not a number"],
    ),
    "psa_is_text": ((PSA_SECTION, "psa: redmine\n"), ["8: psa: must be a mapping, not text"]),
    "auth_is_a_number": (
        (
            "auth:\n    flow: client_credentials\n    client_id: ${SF_CLIENT_ID}\n"
            "    client_secret: ${SF_CLIENT_SECRET}\n",
            "auth: 5\n",
        ),
        ["4: salesforce.auth: must be a mapping, not a number"],
    ),
    "options_is_a_list": (
        ("connector: redmine", "connector: redmine\n  options: [a]"),
        ["10: psa.options: must be a mapping, not a list"],
    ),
    "http_is_text": (
        ("http: {timeout: 10s, retries: 2}", "http: fast"),
        ["15: http: must be a mapping, not text"],
    ),
    "schedule_is_a_list": (
        ("schedule: {interval: 2m, hours_interval: 0}", "schedule: [2m]"),
        ["14: schedule: must be a mapping, not a list"],
    ),
    "limits_is_a_number": (
        ("state: state/s.sqlite", "state: state/s.sqlite\nlimits: 80"),
        ["14: limits: must be a mapping, not a number"],
    ),
}


@pytest.mark.parametrize("replacement, expected", NOT_SECTIONS.values(), ids=NOT_SECTIONS)
def test_a_section_that_is_not_a_mapping_is_one_problem_without_echoes_of_its_keys(
    tmp_path, replacement, expected
):
    path = edited(tmp_path, replacement)
    assert short(path, problems_of(path)) == expected


def test_a_missing_section_is_one_problem_without_echoes_of_its_keys(tmp_path):
    path = write(tmp_path, "mapping: m.yaml\n")
    assert short(path, problems_of(path)) == [
        "1: salesforce: missing section",
        "1: psa: missing section",
    ]


def test_a_path_in_the_home_of_an_unknown_user_is_a_problem_at_its_key(tmp_path):
    path = edited(tmp_path, ("state: state/s.sqlite", "state: ~nobody-here/s.sqlite"))
    assert short(path, problems_of(path)) == [
        "13: state: cannot expand '~nobody-here': no such user"
    ]


def test_an_unknown_connector_is_a_problem_at_its_line_naming_the_known_ones(tmp_path):
    path = edited(tmp_path, ("connector: redmine", "connector: jira"))
    [problem] = short(path, problems_of(path))
    assert problem.startswith("9: psa.connector: unknown connector 'jira'; choose one of: ")
    assert "redmine" in problem


# --- files that cannot be read as text ------------------------------------------------------------


def test_a_config_path_that_is_a_directory_is_one_problem_naming_it(tmp_path):
    assert problems_of(tmp_path) == [
        f"{tmp_path}:1: (file): cannot read the config: Is a directory"
    ]


def test_a_config_path_under_a_file_is_one_problem_naming_it(tmp_path):
    (tmp_path / "plain").write_text("x")
    path = tmp_path / "plain" / "psa-sync.yaml"
    assert problems_of(path) == [f"{path}:1: (file): cannot read the config: Not a directory"]


def test_a_config_that_is_not_utf8_names_the_line_of_the_first_bad_byte(tmp_path):
    path = tmp_path / "psa-sync.yaml"
    path.write_bytes(BASE.encode().replace(b"redmine\n", b"r\xe9dmine\n", 1))
    assert problems_of(path) == [
        f"{path}:9: (file): the config is not UTF-8 text (byte 0xe9); save it as UTF-8"
    ]


def test_a_utf16_config_is_not_utf8(tmp_path):
    path = tmp_path / "psa-sync.yaml"
    path.write_bytes(BASE.encode("utf-16"))
    assert problems_of(path) == [
        f"{path}:1: (file): the config is not UTF-8 text (byte 0xff); save it as UTF-8"
    ]


def test_a_secret_file_that_is_not_utf8_is_a_problem_at_its_key(tmp_path):
    secret = tmp_path / "key.bin"
    secret.write_bytes(b"\xff\xfek3y")
    path = edited(tmp_path, ("api_key: ${REDMINE_API_KEY}", f"api_key_file: {secret}"))
    assert short(path, problems_of(path)) == [f"11: psa.api_key_file: {secret} is not UTF-8 text"]


def test_an_empty_secret_file_is_a_problem_at_its_key(tmp_path):
    secret = tmp_path / "key.txt"
    secret.write_text("\n")
    path = edited(tmp_path, ("api_key: ${REDMINE_API_KEY}", f"api_key_file: {secret}"))
    assert short(path, problems_of(path)) == [f"11: psa.api_key_file: {secret} is empty"]


def test_a_mapping_path_that_is_a_directory_is_one_problem_naming_it(tmp_path):
    with pytest.raises(MappingError) as caught:
        load_mapping(tmp_path)
    assert caught.value.problems == [
        f"{tmp_path}:1: (file): cannot read the mapping: Is a directory"
    ]


def test_a_mapping_that_is_not_utf8_names_the_line_of_the_first_bad_byte(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_bytes(b"version: 1\nsource:\n  object: Opp\xf6rtunity\n")
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert caught.value.problems == [
        f"{path}:3: (file): the mapping is not UTF-8 text (byte 0xf6); save it as UTF-8"
    ]


def test_a_config_error_is_still_a_config_error_for_the_cli(tmp_path):
    with pytest.raises(ConfigError):
        load_settings(tmp_path, ENV)
