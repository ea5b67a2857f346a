"""Every path segment built from data is quoted whole: a key (inside an identifier) or an Account Id
can never add a ``/`` or a ``..`` to a Redmine URL. Unquoted, the key ``../../users/1`` made the
look-up after a refused create ``GET /projects/sf-../../users/1.json``, which requests normalises
to ``/projects/users/1.json``: a request about something other than the deal's project."""

from __future__ import annotations

import re

import pytest

from sync.connectors.psa.redmine.http import path
from tests.unit.connectors.redmine.canned import URL, new

EVERYTHING = re.compile(re.escape(URL) + r"/.*")


def paths_sent(rsps) -> list[str]:
    return [c.request.path_url.split("?", 1)[0] for c in rsps.calls]


def test_a_key_with_slashes_stays_inside_its_identifier_segment(rsps, psa):
    rsps.post(f"{URL}/projects.json", status=422, json={"errors": ["Identifier is invalid"]})
    rsps.get(EVERYTHING, status=404)
    [result] = psa.create([new(key="../../users/1")])
    assert result.outcome == "failed"
    assert paths_sent(rsps) == [
        "/custom_fields.json",
        "/projects.json",
        "/projects/sf-..%2F..%2Fusers%2F1.json",
    ]


def test_an_account_id_with_a_slash_stays_inside_the_parent_identifier(rsps, psa):
    rsps.get(EVERYTHING, status=404)
    rsps.post(f"{URL}/projects.json", status=422, json={"errors": ["Identifier is invalid"]})
    with pytest.raises(Exception):  # noqa: B017 - the refusal is the deal's RecordError; the path is the point
        psa.ensure_parent("001/../../users", "Acme", {"billing_type": "Fixed Fee"})
    assert "/projects/sf-acct-001%2F..%2F..%2Fusers.json" in paths_sent(rsps)
    assert not any(p.startswith("/users") or "/users/" in p for p in paths_sent(rsps))


@pytest.mark.parametrize(
    "segments, expected",
    [
        (("projects",), "/projects.json"),
        (("projects", 7, "close"), "/projects/7/close.json"),
        (("projects", "sf-a/b?c#d%e f"), "/projects/sf-a%2Fb%3Fc%23d%25e%20f.json"),
    ],
)
def test_path_quotes_each_segment_whole(segments, expected):
    assert path(*segments) == expected
    assert path(*segments, ext="") == expected.removesuffix(".json")


@pytest.mark.parametrize("segment", ["", ".", ".."])
def test_path_refuses_a_segment_that_would_move_up_or_vanish(segment):
    with pytest.raises(ValueError):
        path("projects", segment)
