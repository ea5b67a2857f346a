"""Config loading: ${VAR} and *_file secrets, relative paths, durations, every problem at once."""

from datetime import timedelta
from pathlib import Path

import pytest

from sync.config import ConfigError, find_config, load_settings
from tests.fixtures.configs import BASE, ENV, problems_of, write


def test_environment_references_and_relative_paths(tmp_path):
    settings = load_settings(write(tmp_path, BASE), ENV)
    assert settings.salesforce.auth.client_secret.get() == "s3cret-value"
    assert "s3cret" not in repr(settings)
    assert settings.psa.url == "http://127.0.0.1:3000"
    assert settings.mapping == tmp_path / "conf" / "mappings" / "m.yaml"
    assert settings.state == tmp_path / "conf" / "state" / "s.sqlite"
    assert settings.schedule.hours_interval == timedelta(0)
    assert settings.http.timeout == 10.0
    assert settings.salesforce.resolved_token_url == "https://login.salesforce.com/services/oauth2/token"


def test_secret_from_a_file(tmp_path):
    (tmp_path / "key.txt").write_text("from-file-key\n")
    text = BASE.replace("api_key: ${REDMINE_API_KEY}", f"api_key_file: {tmp_path / 'key.txt'}")
    assert load_settings(write(tmp_path, text), ENV).psa.api_key.get() == "from-file-key"


def test_every_problem_is_reported_at_once(tmp_path):
    text = BASE.replace("api_key: ${REDMINE_API_KEY}", "api_key: literal-secret") \
               .replace("interval: 2m", "interval: soon").replace("mapping:", "colour: blue\nmapping:")
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), {k: v for k, v in ENV.items() if k != "SF_CLIENT_ID"})
    problems = "\n".join(caught.value.problems)
    assert "salesforce.auth.client_id: environment variable SF_CLIENT_ID is not set" in problems
    assert "psa.api_key: secrets may not be written in the file" in problems
    assert "schedule.interval: 'soon' is not a duration" in problems
    assert "colour: unknown key" in problems
    assert "literal-secret" not in problems


def test_jwt_needs_its_key_file(tmp_path):
    text = BASE.replace("flow: client_credentials", "flow: jwt\n    username: u@example.com\n"
                        "    private_key_file: missing.pem")
    with pytest.raises(ConfigError, match="private_key_file: no such file"):
        load_settings(write(tmp_path, text), ENV)


def test_the_audience_follows_the_login_host(tmp_path):
    text = BASE.replace("https://login.salesforce.com", "https://test.salesforce.com")
    assert load_settings(write(tmp_path, text), ENV).salesforce.resolved_audience == "https://test.salesforce.com"


def test_config_lookup_order():
    assert str(find_config("x.yaml", {"PSA_SYNC_CONFIG": "y.yaml"})) == "x.yaml"
    assert str(find_config(None, {"PSA_SYNC_CONFIG": "y.yaml"})) == "y.yaml"
    assert str(find_config(None, {})) == "psa-sync.yaml"


def test_a_missing_file_says_where_it_looked(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml", ENV)


# BASE's lines: see tests/fixtures/configs.py.


def test_a_wrong_value_names_its_own_line(tmp_path):
    path = write(tmp_path, BASE.replace("https://login", "http://login").replace("retries: 2", "retries: two"))
    assert problems_of(path) == [
        f"{path}:3: salesforce.login_url: 'http://login.salesforce.com' must start with https:// "
        "(Salesforce speaks only TLS)",
        f"{path}:15: http.retries: 'two' is not a number",
    ]


def test_a_missing_key_names_the_line_of_its_section(tmp_path):
    path = write(tmp_path, BASE.replace("  login_url: https://login.salesforce.com\n", "")
                               .replace("  url: ${REDMINE_URL}\n", ""))
    assert problems_of(path) == [f"{path}:2: salesforce.login_url: missing", f"{path}:7: psa.url: missing"]


def test_an_unset_variable_and_an_unknown_key_name_their_lines(tmp_path):
    path = write(tmp_path, BASE.replace("hours_interval: 0", "hours_interval: 0, every: 1m"))
    env = {k: v for k, v in ENV.items() if k != "SF_CLIENT_ID"}
    assert problems_of(path, env) == [
        f"{path}:6: salesforce.auth.client_id: environment variable SF_CLIENT_ID is not set",
        f"{path}:14: schedule.every: unknown key; valid keys: hours_interval, interval",
    ]


def test_yaml_syntax_and_duplicate_keys_name_their_lines(tmp_path):
    broken = write(tmp_path, BASE.replace("mapping: mappings/m.yaml", "mapping: [mappings/m.yaml"))
    assert problems_of(broken) == [f"{broken}:13: (yaml): not valid YAML: expected ',' or ']', but got ':'"]
    twice = write(tmp_path, BASE.replace("state: state/s.sqlite", "state: state/s.sqlite\nstate: other.sqlite"))
    assert problems_of(twice) == [f"{twice}:14: state: duplicate key (first at line 13)"]


def test_the_path_is_reported_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, BASE.replace("interval: 2m", "interval: soon"))
    assert problems_of(Path("conf/psa-sync.yaml")) == [
        "conf/psa-sync.yaml:14: schedule.interval: 'soon' is not a duration; write <number><s|m|h|d>, e.g. 10m"]
