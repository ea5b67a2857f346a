"""Properties of the structure transform over random line items (hypothesis).

- child keys are unique within a deal's structure, whatever its line items;
- the structure does not depend on the order the line items came in (Salesforce promises no order
  without ORDER BY, and nested pages may come back split differently): the same keys, the same
  children, in the same order;
- it never raises: a deal gives a Structure or a RowError.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.common.model import DesiredRow, RowError
from sync.common.structure import Structure
from sync.mapping.loader import load_mapping

ROOT = Path(__file__).resolve().parents[3]
MAPPING = load_mapping(ROOT / "mappings" / "examples" / "structure.yaml")
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

line_item = st.fixed_dictionaries(
    {
        "Quantity": st.one_of(st.none(), st.integers(0, 500), st.floats(0, 1e4, allow_nan=False)),
        "TotalPrice": st.one_of(st.none(), st.floats(0, 1e7, allow_nan=False)),
        "ServiceDate": st.one_of(
            st.none(), st.dates(date(2026, 3, 1), date(2027, 12, 31)).map(str)
        ),
        "SortOrder": st.one_of(st.none(), st.integers(1, 5)),
        "Estimated_Hours__c": st.one_of(st.none(), st.integers(0, 200)),
        "Description": st.one_of(st.none(), st.text(max_size=20)),
        "ProductCode": st.sampled_from(["CONS-DAY", "TRAIN-DAY", "PM-FLAT", "LIC-1", "OTHER"]),
        "Family": st.sampled_from(["Services", "Licences", None]),
    }
)


def records_of(items: list[dict]) -> list[dict]:
    out = []
    for index, values in enumerate(items):
        values = dict(values)
        family = values.pop("Family")
        out.append(
            {
                **values,
                "Id": f"00kA{index:011d}",
                "Product2": {
                    "Name": values["ProductCode"].title(),
                    "ProductCode": values["ProductCode"],
                    "Family": family,
                },
            }
        )
    return out


def plan(items: list[dict], deal_type: str) -> Structure | RowError:
    from sync.transform.structure import structure_of

    record = {
        "Id": "006A000000AbCdEIAZ",
        "Type": deal_type,
        "OpportunityLineItems": {"totalSize": len(items), "done": True, "records": items}
        if items
        else None,
    }
    row = DesiredRow(
        record_id=record["Id"],
        key=record["Id"],
        modstamp=datetime(2026, 3, 2, tzinfo=UTC),
        deleted=False,
        matches=True,
        record_links={},
        fields={"start_date": date(2026, 3, 1), "end_date": date(2027, 12, 31)},
    )
    return structure_of(row, record, MAPPING)


@PROPERTY
@given(
    st.lists(line_item, max_size=12),
    st.sampled_from(["New Customer", "Existing Customer - Upgrade"]),
    st.randoms(use_true_random=False),
)
def test_child_keys_are_unique_and_stable_under_any_order_of_the_line_items(
    items, deal_type, random
):
    records = records_of(items)
    first = plan(records, deal_type)
    shuffled = list(records)
    random.shuffle(shuffled)
    again = plan(shuffled, deal_type)
    assert isinstance(first, (Structure, RowError))
    assert type(first) is type(again)
    if isinstance(
        first, RowError
    ):  # the payload is the record as it came; the reason must not depend on it
        assert first.reason == again.reason
        return
    assert first == again
    keys = [child.key for child in first.children]
    assert len(keys) == len(set(keys))
    line_keys = {k for k in keys if "/li:" in k}
    services = {
        f"006A000000AbCdEIAZ/li:{r['Id']}" for r in records if r["Product2"]["Family"] == "Services"
    }
    assert line_keys == services
    phases = {c.key for c in first.phases}
    assert all(task.phase is None or task.phase in phases for task in first.tasks)
