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
    assert (
        settings.salesforce.resolved_token_url
        == "https://login.salesforce.com/services/oauth2/token"
    )


def test_secret_from_a_file(tmp_path):
    (tmp_path / "key.txt").write_text("from-file-key\n")
    text = BASE.replace("api_key: ${REDMINE_API_KEY}", f"api_key_file: {tmp_path / 'key.txt'}")
    assert load_settings(write(tmp_path, text), ENV).psa.api_key.get() == "from-file-key"


def test_every_problem_is_reported_at_once(tmp_path):
    text = (
        BASE.replace("api_key: ${REDMINE_API_KEY}", "api_key: literal-secret")
        .replace("interval: 2m", "interval: soon")
        .replace("mapping:", "colour: blue\nmapping:")
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), {k: v for k, v in ENV.items() if k != "SF_CLIENT_ID"})
    problems = "\n".join(caught.value.problems)
    assert "salesforce.auth.client_id: environment variable SF_CLIENT_ID is not set" in problems
    assert "psa.api_key: secrets may not be written in the file" in problems
    assert "schedule.interval: 'soon' is not a duration" in problems
    assert "colour: unknown key" in problems
    assert "literal-secret" not in problems


def test_jwt_needs_its_key_file(tmp_path):
    text = BASE.replace(
        "flow: client_credentials",
        "flow: jwt\n    username: u@example.com\n    private_key_file: missing.pem",
    )
    with pytest.raises(ConfigError, match="private_key_file: no such file"):
        load_settings(write(tmp_path, text), ENV)


def test_the_audience_follows_the_login_host(tmp_path):
    text = BASE.replace("https://login.salesforce.com", "https://test.salesforce.com")
    assert (
        load_settings(write(tmp_path, text), ENV).salesforce.resolved_audience
        == "https://test.salesforce.com"
    )


def test_config_lookup_order():
    assert str(find_config("x.yaml", {"PSA_SYNC_CONFIG": "y.yaml"})) == "x.yaml"
    assert str(find_config(None, {"PSA_SYNC_CONFIG": "y.yaml"})) == "y.yaml"
    assert str(find_config(None, {})) == "psa-sync.yaml"


def test_a_missing_file_says_where_it_looked(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml", ENV)


# BASE's lines: see tests/fixtures/configs.py.


def test_a_wrong_value_names_its_own_line(tmp_path):
    path = write(
        tmp_path,
        BASE.replace("https://login", "http://login").replace("retries: 2", "retries: two"),
    )
    assert problems_of(path) == [
        f"{path}:3: salesforce.login_url: 'http://login.salesforce.com' must start with https:// "
        "(Salesforce speaks only TLS)",
        f"{path}:15: http.retries: 'two' is not a number",
    ]


def test_a_missing_key_names_the_line_of_its_section(tmp_path):
    path = write(
        tmp_path,
        BASE.replace("  login_url: https://login.salesforce.com\n", "").replace(
            "  url: ${REDMINE_URL}\n", ""
        ),
    )
    assert problems_of(path) == [
        f"{path}:2: salesforce.login_url: missing",
        f"{path}:7: psa.url: missing",
    ]


def test_an_unset_variable_and_an_unknown_key_name_their_lines(tmp_path):
    path = write(tmp_path, BASE.replace("hours_interval: 0", "hours_interval: 0, every: 1m"))
    env = {k: v for k, v in ENV.items() if k != "SF_CLIENT_ID"}
    assert problems_of(path, env) == [
        f"{path}:6: salesforce.auth.client_id: environment variable SF_CLIENT_ID is not set",
        f"{path}:14: schedule.every: unknown key; valid keys: "
        "backoff_max, backsync_interval, hours_interval, interval, reconcile, reconcile_repair",
    ]


def test_yaml_syntax_and_duplicate_keys_name_their_lines(tmp_path):
    broken = write(tmp_path, BASE.replace("mapping: mappings/m.yaml", "mapping: [mappings/m.yaml"))
    assert problems_of(broken) == [
        f"{broken}:13: (yaml): not valid YAML: expected ',' or ']', but got ':'"
    ]
    twice = write(
        tmp_path,
        BASE.replace("state: state/s.sqlite", "state: state/s.sqlite\nstate: other.sqlite"),
    )
    assert problems_of(twice) == [f"{twice}:14: state: duplicate key (first at line 13)"]


def test_the_path_is_reported_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, BASE.replace("interval: 2m", "interval: soon"))
    assert problems_of(Path("conf/psa-sync.yaml")) == [
        "conf/psa-sync.yaml:14: schedule.interval: 'soon' is not a duration; "
        "write <number><s|m|h|d>, e.g. 10m"
    ]


def test_the_service_keys_have_their_defaults(tmp_path):
    settings = load_settings(
        write(tmp_path, BASE.replace("schedule: {interval: 2m, hours_interval: 0}\n", "")), ENV
    )
    schedule = settings.schedule
    # the daemon's default
    assert schedule.interval is None and schedule.cycle == timedelta(seconds=30)
    assert schedule.backsync_interval == timedelta(
        minutes=5
    ) and schedule.hours_interval == timedelta(hours=1)
    assert schedule.reconcile is None and schedule.reconcile_repair is False
    assert settings.retention.runs == timedelta(days=30) and settings.retention.events == timedelta(
        days=365
    )
    assert str(settings.retention.at) == "daily 03:30 UTC"
    assert settings.metrics.textfile is None and settings.metrics.port is None


def test_the_service_keys_are_read(tmp_path):
    text = BASE.replace(
        "schedule: {interval: 2m, hours_interval: 0}",
        (
            "schedule: {interval: 10s, backsync_interval: 0, backoff_max: 1m, "
            "reconcile: 'sun 03:00', reconcile_repair: true}\n"
            "retention: {runs: 7d, events: 90d, at: '02:15'}\n"
            "metrics: {textfile: prom/psa-sync.prom, port: 9464}"
        ),
    )
    settings = load_settings(write(tmp_path, text), ENV)
    assert settings.schedule.cycle == timedelta(
        seconds=10
    ) and settings.schedule.backsync_interval == timedelta(0)
    assert (
        str(settings.schedule.reconcile) == "sun 03:00 UTC"
        and settings.schedule.reconcile_repair is True
    )
    assert settings.retention.runs == timedelta(days=7) and (
        settings.retention.at.hour,
        settings.retention.at.minute,
    ) == (2, 15)
    assert settings.metrics.textfile == tmp_path / "conf" / "prom" / "psa-sync.prom"
    assert settings.metrics.port == 9464


def test_wrong_service_keys_name_their_lines(tmp_path):
    path = write(
        tmp_path,
        BASE.replace(
            "schedule: {interval: 2m, hours_interval: 0}",
            (
                "schedule: {interval: 0.5s, reconcile: 'sunday at 3', reconcile_repair: maybe}\n"
                "retention: {runs: forever}\nmetrics: {port: 70000}"
            ),
        ),
    )
    assert problems_of(path) == [
        f"{path}:14: schedule.interval: 0.5s is too short; the daemon cycles every 1s at most",
        f"{path}:14: schedule.reconcile: 'sunday at 3' is not a time of the week; "
        "write [days] HH:MM (UTC), e.g. 'sun 03:00', 'mon-fri 06:30' or '02:00' for every day",
        f"{path}:14: schedule.reconcile_repair: 'maybe' is not true or false",
        f"{path}:16: metrics.port: 70000 is not a TCP port (1-65535)",
        f"{path}:15: retention.runs: 'forever' is not a duration; "
        "write <number><s|m|h|d>, e.g. 10m",
    ]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("sun 03:00", ("sun", 3, 0)),
        ("mon-fri 6:30", ("mon-fri", 6, 30)),
        ("MON,thu 12:00", ("mon,thu", 12, 0)),
        ("02:00", ("*", 2, 0)),
        ("daily 23:59", ("*", 23, 59)),
        ("24:00", None),
        ("sunday 03:00", None),
        (3, None),
    ],
)
def test_times_of_the_week(text, expected):
    from sync.config import parse_at

    at = parse_at(text)
    assert (None if at is None else (at.day_of_week, at.hour, at.minute)) == expected
