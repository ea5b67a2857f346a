"""A redirect is never followed with the API key: requests strips only ``Authorization`` when it
follows one to another host, so ``X-Redmine-API-Key`` would go along. A 3xx stops the run instead
(exit 3), naming where it pointed, because ``psa.url`` must be the final URL."""

from __future__ import annotations

import pytest

from sync.common.errors import PsaUnavailable
from tests.unit.connectors.redmine.canned import API_KEY, KEY, URL, new
from tests.unit.connectors.redmine.conftest import never_asked

ELSEWHERE = "https://elsewhere.example"


def keys_seen_by(rsps, host: str) -> list[str | None]:
    return [
        c.request.headers.get("X-Redmine-API-Key")
        for c in rsps.calls
        if c.request.url.startswith(host)
    ]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_is_not_followed_with_the_key(rsps, psa, status):
    rsps.get(
        f"{URL}/projects.json",
        status=status,
        headers={"Location": f"{ELSEWHERE}/projects.json?key=x"},
    )
    trap = rsps.get(f"{ELSEWHERE}/projects.json", json={"projects": [], "total_count": 0})
    with pytest.raises(PsaUnavailable) as raised:
        psa.find([KEY])
    assert keys_seen_by(rsps, ELSEWHERE) == []
    never_asked(rsps, trap)
    text = str(raised.value)
    assert (
        "psa.url must be the final URL; "
        f"Redmine redirected GET /projects.json to {ELSEWHERE}/projects.json" in text
    )
    assert "key=x" not in text and API_KEY not in text and raised.value.exit_code == 3


def test_a_redirected_create_is_never_sent_twice_and_stops_the_run(rsps, psa):
    rsps.post(
        f"{URL}/projects.json", status=307, headers={"Location": f"{ELSEWHERE}/projects.json"}
    )
    rsps.get(
        f"{URL}/projects/sf-{KEY.lower()}.json",
        status=302,
        headers={"Location": f"{ELSEWHERE}/login"},
    )
    trap = rsps.post(f"{ELSEWHERE}/projects.json", status=201, json={})
    with pytest.raises(
        PsaUnavailable, match=f"redirected GET /projects/sf-{KEY.lower()}.json to {ELSEWHERE}/login"
    ):
        psa.create([new()])
    assert keys_seen_by(rsps, ELSEWHERE) == []
    never_asked(rsps, trap)


def test_a_relative_redirect_is_named_in_full(rsps, psa):
    rsps.replace(
        "GET", f"{URL}/custom_fields.json", status=302, headers={"Location": "/login?back_url=%2F"}
    )
    with pytest.raises(
        PsaUnavailable, match=f"redirected GET /custom_fields.json to {URL}/login, and"
    ):
        psa.fields()
