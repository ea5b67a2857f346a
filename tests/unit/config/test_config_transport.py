"""Where credentials travel: the PSA API key goes in a header of every request and the Salesforce
secrets go to the token URL, so the config refuses plain http:// except to this machine, and refuses
credentials written into a URL without ever repeating them."""

from __future__ import annotations

import pytest

from sync.config import load_settings
from tests.fixtures.configs import ENV, edited, problems_of, short

LOGIN = "login_url: https://login.salesforce.com"
PSA_HTTP = (
    "must start with https:// (the API key travels in a header of every request); plain http:// is "
    "allowed only to a loopback host (127.0.0.1, ::1, localhost)"
)
SF_HTTP = "must start with https:// (Salesforce speaks only TLS)"


def with_psa_url(tmp_path, url):
    return problems_of(edited(tmp_path), {**ENV, "REDMINE_URL": url})


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:3000",
        "http://127.9.8.7",
        "http://[::1]:3000/",
        "http://localhost",
        "http://LOCALHOST:3000",
        "https://redmine.example.com",
        "https://10.0.0.5:8443",
    ],
)
def test_the_psa_url_may_be_https_anywhere_or_plain_http_on_this_machine(tmp_path, url):
    assert load_settings(edited(tmp_path), {**ENV, "REDMINE_URL": url}).psa.url == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://redmine.example.com",
        "http://10.0.0.5:3000",
        "http://[::2]:3000",
        "http://localhost.example.com",
        "http://0.0.0.0:3000",
    ],
)
def test_a_plain_http_psa_url_to_another_host_is_refused_saying_why(tmp_path, url):
    path = edited(tmp_path)
    assert short(path, with_psa_url(tmp_path, url)) == [f"10: psa.url: '{url}' {PSA_HTTP}"]


@pytest.mark.parametrize(
    "url", ["redmine.example.com", "ftp://redmine.example.com", "//redmine.example.com"]
)
def test_a_psa_url_without_a_web_scheme_is_refused(tmp_path, url):
    path = edited(tmp_path)
    assert short(path, with_psa_url(tmp_path, url)) == [f"10: psa.url: '{url}' {PSA_HTTP}"]


@pytest.mark.parametrize("url", ["https://", "https:///projects", "http://"])
def test_a_url_with_no_host_is_refused(tmp_path, url):
    path = edited(tmp_path)
    assert short(path, with_psa_url(tmp_path, url)) == [f"10: psa.url: '{url}' names no host"]


@pytest.mark.parametrize("url", ["https://redmine.example.com:port", "https://[::1"])
def test_a_url_that_does_not_parse_is_refused(tmp_path, url):
    path = edited(tmp_path)
    [problem] = short(path, with_psa_url(tmp_path, url))
    assert problem.startswith("10: psa.url: is not a valid URL (")


@pytest.mark.parametrize(
    "url",
    [
        "https://admin:hunter2@redmine.example.com",
        "http://admin:hunter2@10.0.0.5",
        "https://admin:hunter2@[::1",
        "https://hunter2@redmine.example.com",
    ],
)
def test_credentials_in_the_psa_url_are_refused_without_repeating_them(tmp_path, url):
    path = edited(tmp_path)
    problems = with_psa_url(tmp_path, url)
    assert short(path, problems) == ["10: psa.url: credentials in the URL; use api_key / ${VAR}"]
    assert "hunter2" not in "".join(problems)


def test_credentials_written_in_the_file_are_not_repeated_either(tmp_path):
    path = edited(
        tmp_path, ("url: ${REDMINE_URL}", "url: https://admin:hunter2@redmine.example.com")
    )
    problems = problems_of(path)
    assert short(path, problems) == ["10: psa.url: credentials in the URL; use api_key / ${VAR}"]
    assert "hunter2" not in "".join(problems)


@pytest.mark.parametrize(
    "url", ["http://login.salesforce.com", "http://127.0.0.1:8443", "login.salesforce.com"]
)
def test_the_salesforce_login_url_must_be_https_even_on_this_machine(tmp_path, url):
    path = edited(tmp_path, (LOGIN, f"login_url: {url}"))
    assert short(path, problems_of(path)) == [f"3: salesforce.login_url: '{url}' {SF_HTTP}"]


def test_the_emulator_on_a_loopback_https_url_is_accepted(tmp_path):
    path = edited(tmp_path, (LOGIN, "login_url: https://127.0.0.1:8443"))
    settings = load_settings(path, ENV)
    assert settings.salesforce.resolved_token_url == "https://127.0.0.1:8443/services/oauth2/token"


@pytest.mark.parametrize(
    "url", ["http://acme.my.salesforce.com/services/oauth2/token", "http://127.0.0.1:8443/t"]
)
def test_a_plain_http_token_url_is_refused(tmp_path, url):
    path = edited(tmp_path, (LOGIN, f"{LOGIN}\n  token_url: {url}"))
    assert short(path, problems_of(path)) == [f"4: salesforce.token_url: '{url}' {SF_HTTP}"]


def test_credentials_in_a_salesforce_url_are_refused_without_repeating_them(tmp_path):
    path = edited(
        tmp_path,
        (
            LOGIN,
            "login_url: https://me%40acme.com:hunter2@login.salesforce.com\n"
            "  token_url: https://x:hunter2@acme.my.salesforce.com/services/oauth2/token",
        ),
    )
    problems = problems_of(path)
    assert short(path, problems) == [
        "3: salesforce.login_url: credentials in the URL; use the auth section / ${VAR}",
        "4: salesforce.token_url: credentials in the URL; use the auth section / ${VAR}",
    ]
    assert "hunter2" not in "".join(problems)
