"""What was sold, as the emulator serves it through simple-salesforce: line items, their products,
parent-to-child subqueries with nested paging, semi-joins, and the parent's roll-up."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from tests.fixtures.emulator import sf_client

LINES = (
    "SELECT Id, Name, (SELECT Id, Quantity, UnitPrice, TotalPrice, ProductCode, Product2.Name, "
    "Product2.Family FROM OpportunityLineItems ORDER BY SortOrder, Id) FROM Opportunity"
)


def _deal(emu, name="Acme rollout", stage="Closed Won"):
    return emu.create(
        "Opportunity", Name=name, StageName=stage, CloseDate="2026-03-01", Amount=1000
    )


def test_a_deal_without_line_items_carries_null_and_one_with_them_a_nested_result(emulator, sf):
    entry = emulator.add_product(
        "Implementation day", code="IMPL-D", family="Services", list_price=1200
    )
    bare, sold = _deal(emulator, "Bare"), _deal(emulator, "Sold")
    emulator.add_line_item(sold, entry, quantity=5)
    records = {r["Name"]: r for r in sf.query(LINES)["records"]}
    assert records["Bare"]["OpportunityLineItems"] is None
    nested = records["Sold"]["OpportunityLineItems"]
    assert (nested["totalSize"], nested["done"]) == (1, True)
    (line,) = nested["records"]
    assert line["attributes"]["type"] == "OpportunityLineItem" and line["Id"].startswith("00k")
    assert (line["Quantity"], line["UnitPrice"], line["TotalPrice"]) == (5.0, 1200.0, 6000.0)
    assert line["ProductCode"] == "IMPL-D"
    assert (
        line["Product2"]["Name"] == "Implementation day"
        and line["Product2"]["Family"] == "Services"
    )
    assert bare


def test_line_items_roll_up_into_the_deal_and_re_save_it_but_a_description_edit_does_not(emulator):
    entry = emulator.add_product("Training", code="TRN", family="Training", list_price=500)
    deal = _deal(emulator)
    before = emulator.get("Opportunity", deal)["SystemModstamp"]
    line = emulator.add_line_item(deal, entry, quantity=2)
    after_add = emulator.get("Opportunity", deal)
    assert after_add["Amount"] == 1000.0 and after_add["HasOpportunityLineItem"] is True
    assert after_add["SystemModstamp"] > before
    emulator.update("Opportunity", deal, Amount=99)  # silently ignored once the deal has lines
    assert emulator.get("Opportunity", deal)["Amount"] == 1000.0
    stamp = emulator.get("Opportunity", deal)["SystemModstamp"]
    emulator.update("OpportunityLineItem", line, Description="two trainers")
    assert emulator.get("Opportunity", deal)["SystemModstamp"] == stamp
    emulator.update("OpportunityLineItem", line, Quantity=4)  # TotalPrice held, UnitPrice moves
    assert emulator.get("OpportunityLineItem", line)["UnitPrice"] == 250.0
    assert emulator.get("Opportunity", deal)["SystemModstamp"] > stamp


def test_a_deleted_line_item_is_gone_even_from_query_all(emulator, sf):
    entry = emulator.add_product("Support", code="SUP")
    deal = _deal(emulator)
    keep, gone = (emulator.add_line_item(deal, entry, quantity=q) for q in (1, 2))
    emulator.delete(gone)
    rows = sf.query_all(
        f"SELECT Id FROM OpportunityLineItem WHERE OpportunityId = '{deal}'", include_deleted=True
    )
    assert [r["Id"] for r in rows["records"]] == [keep]
    assert emulator.get("Opportunity", deal)["Amount"] == 100.0


def test_a_parent_with_more_children_than_fit_gets_its_own_next_records_url(emulator, sf):
    emulator.set_nested_page(3)
    entry = emulator.add_product("Consulting hour", code="CH")
    deal = _deal(emulator)
    made = [emulator.add_line_item(deal, entry, quantity=1, SortOrder=i) for i in range(7)]
    (record,) = sf.query(LINES)["records"]
    nested = record["OpportunityLineItems"]
    assert (nested["totalSize"], nested["done"], len(nested["records"])) == (7, False, 3)
    rest = sf.query_more(nested["nextRecordsUrl"], identifier_is_url=True)
    assert (rest["done"], len(rest["records"])) == (True, 4)
    assert [r["Id"] for r in nested["records"] + rest["records"]] == made
    assert emulator.calls["queryMore"] == 1


def test_child_rows_count_toward_the_page_so_a_page_carries_fewer_deals(emulator):
    entry = emulator.add_product("Day", code="D")
    for i in range(5):
        deal = _deal(emulator, f"Deal {i}")
        for _ in range(99):
            emulator.add_line_item(deal, entry, quantity=1)
    sf = sf_client(emulator)
    sf.session.headers["Sforce-Query-Options"] = "batchSize=200"
    first = sf.query(LINES)
    assert (first["totalSize"], len(first["records"]), first["done"]) == (
        5,
        2,
        False,
    )  # 2 × (1 + 99) = 200
    assert all(len(r["OpportunityLineItems"]["records"]) == 99 for r in first["records"])


def test_a_semi_join_finds_the_deals_whose_line_items_changed(emulator, sf):
    entry = emulator.add_product("Day", code="D")
    old, amended = _deal(emulator, "Old"), _deal(emulator, "Amended")
    line = emulator.add_line_item(old, entry, quantity=1, _stamp="2024-01-01T00:00:00Z")
    emulator.add_line_item(amended, entry, quantity=1)
    del line
    rows = sf.query(
        "SELECT Name FROM Opportunity WHERE Id IN (SELECT OpportunityId FROM OpportunityLineItem "
        "WHERE SystemModstamp > 2025-01-01T00:00:00Z)"
    )["records"]
    assert [r["Name"] for r in rows] == ["Amended"]


@pytest.mark.parametrize(
    "soql, code",
    [
        (
            "SELECT Id FROM Opportunity "
            "WHERE IsWon = true OR Id IN (SELECT OpportunityId FROM OpportunityLineItem)",
            "MALFORMED_QUERY",
        ),
        ("SELECT Id, (SELECT Id FROM Contacts) FROM Opportunity", "INVALID_TYPE"),
    ],
)
def test_what_an_org_refuses_the_emulator_refuses(sf, soql, code):
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query(soql)
    assert info.value.content[0]["errorCode"] == code


def test_a_line_item_needs_exactly_one_of_unit_price_and_total_price(emulator):
    entry = emulator.add_product("Day", code="D")
    deal = _deal(emulator)
    with pytest.raises(Exception, match="UnitPrice or TotalPrice"):
        emulator.records.create(
            "OpportunityLineItem",
            {
                "OpportunityId": deal,
                "PricebookEntryId": entry,
                "Quantity": 1,
                "UnitPrice": 1,
                "TotalPrice": 1,
            },
        )


def test_the_bulk_seed_sells_line_items_as_if_entered_with_each_won_deal(emulator, sf):
    emulator.seed(40, won_ratio=0.5, seed=7)
    won = emulator.ids("Opportunity", where="IsWon = true")
    before = sf.query_all("SELECT Id, SystemModstamp FROM Opportunity")["records"]
    stamps = {r["Id"]: r["SystemModstamp"] for r in before}
    assert emulator.seed_line_items(3, seed=1) == 3 * len(won)
    records = {
        r["Id"]: r
        for r in sf.query_all(
            LINES.replace(
                "Id, Name,", "Id, Name, Amount, IsWon, HasOpportunityLineItem, SystemModstamp,"
            )
        )["records"]
    }
    for record_id, record in records.items():
        nested = record["OpportunityLineItems"]
        if not record["IsWon"]:
            assert nested is None and record["HasOpportunityLineItem"] is False
            continue
        lines = nested["records"]
        assert len(lines) == 3 and record["HasOpportunityLineItem"] is True
        assert record["Amount"] == pytest.approx(
            sum(line["TotalPrice"] for line in lines)
        )  # the roll-up
        assert (
            record["SystemModstamp"] == stamps[record_id]
        )  # a seed, not an edit: no amendment to read
        for line in lines:
            assert line["TotalPrice"] == line["Quantity"] * line["UnitPrice"]
            assert (
                line["ProductCode"]
                == {
                    "Consulting day": "CONS-DAY",
                    "Training day": "TRAIN-DAY",
                    "Project management": "PM-FLAT",
                    "Enterprise licence": "LIC-ENT",
                }[line["Product2"]["Name"]]
            )
    changed = sf.query_all(
        "SELECT Id FROM OpportunityLineItem WHERE SystemModstamp > "
        f"{max(stamps.values()).replace('+0000', 'Z')}"
    )["records"]
    assert changed == []
