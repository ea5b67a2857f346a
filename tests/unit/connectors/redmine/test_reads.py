"""The Redmine connector's reads (find, list, delivery, hours), with canned HTTP answers."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
import responses
from responses import matchers

from sync.common.errors import PsaUnavailable
from sync.connectors.psa.redmine.connector import RedmineConnector
from tests.unit.connectors.redmine.canned import KEY, REF, URL, project

# --- reads ----------------------------------------------------------------------------------------


def test_find_rechecks_keys_because_redmine_ignores_unknown_filters(rsps, psa):
    everything = [
        project(),
        project(pid=8, identifier="other", key="006AK00000OtHeRQAA"),
        project(9, "x", key=""),
    ]
    rsps.get(
        f"{URL}/projects.json",
        json={"projects": everything, "total_count": 3},
        match=[
            matchers.query_param_matcher(
                {"cf_1": f"={KEY}", "status": "1|5", "limit": "100", "offset": "0"}
            )
        ],
    )
    assert psa.find([KEY]) == {KEY: [REF]}


def test_list_linked_pages_until_total_count(rsps, psa):
    psa.http.page_size = 2
    pages = [[project(1, "a"), project(2, "b")], [project(3, "c")]]
    for offset, page in zip((0, 2), pages, strict=True):
        rsps.get(
            f"{URL}/projects.json",
            json={"projects": page, "total_count": 3},
            match=[matchers.query_param_matcher({"offset": str(offset)}, strict_match=False)],
        )
    assert [r.id for r in psa.list_linked()] == [1, 2, 3]


def test_delivery_sums_hours_exactly(rsps, psa):
    rsps.get(f"{URL}/projects.json", json={"projects": [project(status=5)], "total_count": 1})
    entries = [{"hours": 0.1}, {"hours": 0.2}, {"hours": 7.2}]
    rsps.get(f"{URL}/time_entries.json", json={"time_entries": entries, "total_count": 3})
    delivery = psa.delivery([REF], hours=True)[KEY]
    assert (delivery.status, delivery.spent_hours) == ("closed", Decimal("7.5"))


def test_a_5xx_on_a_read_is_unavailable(rsps, psa):
    rsps.get(f"{URL}/projects.json", status=502)
    with pytest.raises(PsaUnavailable, match="502"):
        psa.find([KEY])


def test_long_external_keys_are_split_so_no_request_line_passes_webricks_limit(rsps, psa):
    rsps.get(f"{URL}/projects.json", json={"projects": [], "total_count": 0})
    keys = [f"EXT-{n}-" + "x" * 240 for n in range(10)]
    assert psa.find(keys) == {k: [] for k in keys}
    lookups = [c.request.url for c in rsps.calls if "/projects.json" in c.request.url]
    assert len(lookups) == 3 and max(len(u) for u in lookups) < 2083  # 4 + 4 + 2 keys


@responses.activate
def test_hours_of_a_project_deleted_meanwhile_leave_it_out_instead_of_failing_the_run():
    """Regression (issue 6): a 404 on one project's time entries made back-sync exit 3 for all."""
    base = "http://redmine.test"
    psa = RedmineConnector(base, "k", session=requests.Session())
    responses.get(f"{base}/time_entries.json", status=404)
    assert psa.spent_hours(42) is None
