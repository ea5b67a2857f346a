"""A project a person closed stays the person's (issue 20): under ``on_unwon: close`` psa-sync
records a close it did not make as theirs, and a deal won again never reopens a project delivery had
finished.

Run on both real PSAs with the same steps; a ``Side`` holds the little that differs: where the
deal's project is, how a person closes it, and how the PSA says it is closed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from sync.ops.forecast.book import read_book
from tests.fixtures.emulator import won_deal
from tests.fixtures.sync import mapping_variant

pytestmark = [pytest.mark.integration, pytest.mark.realpsa]  # the kit asks for its PSA at run time


@dataclass
class Side:
    harness: object
    project_id: Callable[[str], int]  # deal Id → its project's id
    close: Callable[[int], None]  # as a person would, in the PSA
    is_closed: Callable[[int], bool]


def _redmine(request, tmp_path) -> Side:
    harness, redmine = request.getfixturevalue("harness"), request.getfixturevalue("redmine")
    harness.write_config(mapping=mapping_variant(tmp_path, ("on_unwon: flag", "on_unwon: close")))
    return Side(
        harness,
        lambda deal: redmine.project("sf-" + deal.lower())["id"],
        redmine.close,
        lambda pid: redmine.project(pid)["status"] == 5,
    )


def _tryton(request, tmp_path) -> Side:
    harness, tryton = request.getfixturevalue("tryton_harness"), request.getfixturevalue("tryton")

    def project(deal: str) -> dict:
        return next(p for p in tryton.projects() if p["salesforce_key"] == deal)

    return Side(
        harness,
        lambda deal: project(deal)["id"],
        tryton.close,
        lambda pid: (
            next(p for p in tryton.projects() if p["id"] == pid)["status."]["name"] == "Done"
        ),
    )


@pytest.fixture(params=["redmine", "tryton"])
def side(request, tmp_path) -> Side:
    return {"redmine": _redmine, "tryton": _tryton}[request.param](request, tmp_path)


def test_a_project_a_person_closed_is_never_reopened_when_the_deal_is_won_again(side, emulator):
    deal = won_deal(emulator)
    side.harness.run()
    project = side.project_id(deal)
    side.close(project)  # delivery finished the project

    emulator.update("Opportunity", deal, StageName="Negotiation/Review")
    side.harness.run()  # on_unwon: close finds it closed already: the close stays the person's
    emulator.update("Opportunity", deal, StageName="Closed Won")
    side.harness.run()

    assert side.is_closed(project)
    explained = side.harness.explain(deal)
    assert explained["link"]["closed_by"] == "psa"  # the person's close, not psa-sync's
    lifecycle = [
        (e["detail"]["status"], e["outcome"])
        for e in explained["events"]
        if e["action"] == "lifecycle"
    ]
    assert lifecycle == [("Reopened", "flagged"), ("Won", "flagged")]


def test_a_project_psa_sync_closed_is_reopened_when_the_deal_is_won_again(side, emulator):
    deal = won_deal(emulator)
    side.harness.run()
    project = side.project_id(deal)

    emulator.update("Opportunity", deal, StageName="Negotiation/Review")
    side.harness.run()
    assert side.is_closed(project)
    emulator.update("Opportunity", deal, StageName="Closed Won")
    side.harness.run()

    assert not side.is_closed(project)


def test_a_won_project_delivery_closes_leaves_the_forecast_once_back_sync_reads_it_closed(
    side, emulator
):
    deal = won_deal(emulator)
    side.harness.run()
    assert deal in won_in_forecast(side)
    side.close(side.project_id(deal))  # delivery finished it; the deal stays won

    side.harness.run()  # back-sync reads it closed

    assert deal not in won_in_forecast(side)


def won_in_forecast(side: Side) -> set[str]:
    deals, _ = read_book(side.harness.state)
    return {d.record_id for d in deals if d.kind == "won"}
