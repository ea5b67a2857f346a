"""The incremental query: a window on Salesforce's clock, the criteria, and the terms that bring
linked deals back."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sync.common.errors import ProtocolViolation, UnreachableError
from sync.extract import incremental as extract
from sync.extract.incremental import build_id_query, build_query, since
from sync.mapping.loader import load_mapping

MAPPING = load_mapping(
    Path(__file__).resolve().parents[3] / "mappings" / "opportunity_to_project.yaml"
)


def test_the_query_window_criteria_and_link_terms():
    soql = build_query(
        MAPPING,
        start=datetime(2026, 3, 1, 9, 50, tzinfo=UTC),
        signpost=datetime(2026, 3, 1, 10, 0, 0, 999000, tzinfo=UTC),
        extra_ids=["006B", "006A", "006A"],
    )
    where = soql.split(" WHERE ")[1]
    assert where == (
        "(SystemModstamp >= 2026-03-01T09:50:00Z AND SystemModstamp <= 2026-03-01T10:00:00.999Z) "
        "AND (IsWon = true OR PSA_Project_Id__c != null OR Id IN ('006A', '006B')) "
        "ORDER BY SystemModstamp, Id"
    )
    assert soql.startswith("SELECT Id, SystemModstamp, IsDeleted, ")
    assert "IsClosed" in soql.split(" FROM ")[0] and "Account.Name" in soql.split(" FROM ")[0]


def test_the_first_run_starts_at_start_date_and_later_runs_look_back():
    assert since(None, MAPPING) == datetime(2026, 1, 1, tzinfo=UTC)
    assert since(datetime(2026, 3, 1, 10, 0, tzinfo=UTC), MAPPING) == datetime(
        2026, 3, 1, 9, 50, tzinfo=UTC
    )


def test_re_fetching_named_deals_ignores_their_stamp():
    assert build_id_query(MAPPING, ["006A", "006B"]).endswith(
        "FROM Opportunity WHERE Id IN ('006A', '006B')"
    )


class _Pages:
    """A client whose query answers the given pages (a broken server cursor)."""

    def __init__(self, *pages):
        self._pages = pages

    def query_pages(self, soql, include_deleted):
        yield from self._pages


def test_rows_out_of_their_order_are_a_protocol_violation_not_an_outage():
    client = _Pages(
        [{"Id": "006A", "SystemModstamp": "2026-03-01T10:00:01.000+0000"}],
        [{"Id": "006B", "SystemModstamp": "2026-03-01T10:00:00.000+0000"}],
    )
    with pytest.raises(ProtocolViolation, match="out of SystemModstamp order") as caught:
        list(extract.pages(client, "SELECT Id FROM Opportunity"))
    assert caught.value.exit_code == 76
    assert not isinstance(caught.value, UnreachableError)


def test_an_open_window_reads_on_after_the_last_committed_row_in_the_query_order():
    window = extract.Window(
        datetime(2026, 3, 1, 9, 50, tzinfo=UTC), datetime(2026, 3, 1, 10, 0, 0, 999000, tzinfo=UTC)
    )
    page = [
        {"Id": "006A", "SystemModstamp": "2026-03-01T09:55:00.000+0000"},
        {"Id": "006C", "SystemModstamp": "2026-03-01T09:56:30.250+0000"},
    ]
    resumed = window.past(page)
    assert resumed.after == (datetime(2026, 3, 1, 9, 56, 30, 250000, tzinfo=UTC), "006C")
    assert extract.Window.from_json(resumed.to_json()) == resumed
    soql = build_query(MAPPING, start=resumed.start, signpost=resumed.signpost, after=resumed.after)
    assert (
        "(SystemModstamp > 2026-03-01T09:56:30.250Z OR "
        "(SystemModstamp = 2026-03-01T09:56:30.250Z AND Id > '006C'))"
    ) in soql
    assert soql.endswith("ORDER BY SystemModstamp, Id")
    assert window.past([]) == window
