"""A PSA hand edit is a conflict only when it differs from what we pushed (typed, normalised)."""

from datetime import date
from decimal import Decimal

from sync.backsync.conflicts import edited_fields
from sync.common.model import Link

PUSHED = {
    "name": "Acme - Rollout",
    "budget": Decimal("125000.50"),
    "start_date": date(2026, 2, 1),
    "description": "first scope",
    "customer": "Acme",
}


def link(**changes):
    values = dict(
        record_id="006A",
        key="006A",
        project_id=7,
        project_identifier="sf-006a",
        project_url="u",
        payload_hash="h",
        payload=dict(PUSHED),
        written={},
        backsync={},
        link_state="active",
        sf_status="Won",
        closed_by=None,
        pending={},
        kept_psa=[],
    )
    values.update(changes)
    return Link(**values)


def test_string_typed_values_read_back_from_redmine_are_not_conflicts():
    psa = {
        "name": "Acme - Rollout ",
        "budget": Decimal("125000.5"),
        "start_date": date(2026, 2, 1),
        "customer": "Acme",
    }
    assert edited_fields(link(), psa, on_create={"description"}) == {}


def test_a_renamed_project_is_a_conflict():
    assert edited_fields(
        link(), {**PUSHED, "name": "Renamed by a PM"}, on_create={"description"}
    ) == {"name": "Renamed by a PM"}


def test_on_create_kept_and_pending_fields_never_conflict():
    psa = {
        **PUSHED,
        "description": "edited in Redmine",
        "budget": Decimal("1"),
        "customer": "Other",
    }
    assert (
        edited_fields(
            link(kept_psa=["budget"], pending={"customer": "Acme"}), psa, on_create={"description"}
        )
        == {}
    )
