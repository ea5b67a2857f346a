"""Fixtures the unit tests share."""

from __future__ import annotations

import pytest

from sync.mapping.loader import load_mapping
from tests.fixtures.records import ROOT


@pytest.fixture(scope="module")
def default():
    """The default mapping (mappings/opportunity_to_project.yaml), loaded once per module."""
    return load_mapping(ROOT / "mappings" / "opportunity_to_project.yaml")
