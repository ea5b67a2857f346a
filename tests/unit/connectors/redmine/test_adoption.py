"""The Redmine connector's half of adoption: projects without a key, one project by id or
identifier, and writing or clearing a key (even into a closed project), with canned HTTP answers."""

from __future__ import annotations

import json

from responses import matchers

from tests.unit.connectors.redmine.canned import KEY, REF, URL, project


def test_list_unlinked_rechecks_the_empty_key_and_leaves_out_the_accounts_parents(rsps, psa):
    listed = [
        project(pid=1, identifier="hand-made", key=""),
        project(pid=2, identifier="keyed", key=KEY),
        project(pid=3, identifier="sf-acct-001ak00000xyzabqaa", key=""),
    ]
    rsps.get(
        f"{URL}/projects.json",
        json={"projects": listed, "total_count": 3},
        match=[
            matchers.query_param_matcher(
                {"cf_1": "!*", "status": "1|5", "sort": "created_on", "limit": "100", "offset": "0"}
            )
        ],
    )
    [(ref, values)] = psa.list_unlinked()
    assert (ref.id, ref.identifier, ref.key) == (1, "hand-made", "")
    assert values["name"] == "Acme - Impl" and values["billing_type"] == "Fixed Fee"


def test_one_project_by_id_or_identifier_and_nothing_else_reaches_the_url(rsps, psa):
    rsps.get(
        f"{URL}/projects/hand-made.json",
        json={"project": project(pid=1, identifier="hand-made", key="")},
    )
    rsps.get(f"{URL}/projects/12.json", status=404)
    ref, values = psa.project("Hand-Made")
    assert ref.id == 1 and values["budget"] is not None
    assert psa.project("12") is None
    assert psa.project("../../users") is None and psa.project("") is None
    assert len(rsps.calls) == 3  # custom fields, then the two lookups


def test_a_key_is_written_into_a_closed_project_by_reopening_and_closing_it_again(rsps, psa):
    rsps.put(f"{URL}/projects/7.json", status=403)
    rsps.put(f"{URL}/projects/7/reopen.json", status=204)
    rsps.put(f"{URL}/projects/7.json", status=204)
    rsps.put(f"{URL}/projects/7/close.json", status=204)
    [result] = psa.set_keys([(REF, "006AK00000NeWkEQAA")])
    assert result.outcome == "updated" and result.ref.key == result.key == "006AK00000NeWkEQAA"
    assert [c.request.url.split("/projects/")[1] for c in rsps.calls[1:]] == [
        "7.json",
        "7/reopen.json",
        "7.json",
        "7/close.json",
    ]
    assert json.loads(rsps.calls[-2].request.body) == {
        "project": {"custom_fields": [{"id": 1, "value": "006AK00000NeWkEQAA"}]}
    }


def test_a_cleared_key_is_sent_empty_and_a_project_left_open_is_a_failure(rsps, psa):
    rsps.put(f"{URL}/projects/7.json", status=403)
    rsps.put(f"{URL}/projects/7/reopen.json", status=204)
    rsps.put(f"{URL}/projects/7.json", status=204)
    rsps.put(f"{URL}/projects/7/close.json", status=422, json={"errors": ["nope"]})
    [result] = psa.set_keys([(REF, None)])
    assert result.outcome == "failed" and "could not be closed again" in result.error
    assert json.loads(rsps.calls[-2].request.body)["project"]["custom_fields"] == [
        {"id": 1, "value": ""}
    ]
