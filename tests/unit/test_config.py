"""Config loading: ${VAR} and *_file secrets, relative paths, durations, every problem at once."""

import textwrap
from datetime import timedelta

import pytest

from sync.config import ConfigError, find_config, load_settings

BASE = """
salesforce:
  login_url: https://login.salesforce.com
  auth:
    flow: client_credentials
    client_id: ${SF_CLIENT_ID}
    client_secret: ${SF_CLIENT_SECRET}
psa:
  connector: redmine
  url: ${REDMINE_URL}
  api_key: ${REDMINE_API_KEY}
mapping: mappings/m.yaml
state: state/s.sqlite
schedule: {interval: 2m, hours_interval: 0}
http: {timeout: 10s, retries: 2}
"""
ENV = {"SF_CLIENT_ID": "cid", "SF_CLIENT_SECRET": "s3cret-value", "REDMINE_URL": "http://127.0.0.1:3000/",
       "REDMINE_API_KEY": "k3y-value"}


def write(tmp_path, text):
    path = tmp_path / "conf" / "psa-sync.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


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
