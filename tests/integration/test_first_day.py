"""What a first-day user meets (issue 12), against the emulator and a real Redmine: the demo's deal
without an Account is named without a dangling separator."""

from __future__ import annotations

import pytest

from tests.fixtures.sync import today_mapping

pytestmark = pytest.mark.integration


def test_the_demo_deal_without_an_account_is_named_without_a_dangling_separator(
    harness, emulator, redmine, tmp_path
):
    book = emulator.seed_demo()
    harness.write_config(mapping=today_mapping(tmp_path))
    harness.run()
    names = {p["name"] for p in redmine.projects()}
    assert len(names) == len(book["won"])
    assert (
        "Inbound Web Lead - Consulting Day" in names
    )  # not " - Inbound Web Lead - Consulting Day"
    assert "Acme Corporation - ERP Rollout Phase 1" in names  # with an Account, as before
    assert not any(n.startswith((" ", "-")) for n in names)
