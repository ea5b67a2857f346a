"""What was sold: Product2, Pricebook2, PricebookEntry, OpportunityLineItem, as an org keeps them.

The rules an org applies and psa-sync depends on (docs/architecture.md §8, "line items"):

* a line item needs its Opportunity and a PricebookEntry; ``Product2Id``, ``ProductCode``,
  ``ListPrice`` and ``Name`` are read-only copies from the entry and its product;
* ``UnitPrice`` or ``TotalPrice`` on create, never both; the other one is computed;
* the Opportunity's ``Amount`` is the sum of its lines' ``TotalPrice`` once it has lines (an update
  of ``Amount`` is then silently ignored) and ``HasOpportunityLineItem`` says it has some;
* a line insert, delete, or a change of quantity or price re-saves the parent (its
  ``SystemModstamp`` moves); an edit of ``Description``, ``ServiceDate`` or ``SortOrder`` does not;
* a deleted line item is gone for good: no recycle bin, never in ``queryAll``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sync.emulator.apierror import RecordFailure
from sync.emulator.schema import FieldDef, ObjectDef, _system_fields, _text

if TYPE_CHECKING:
    from sync.emulator.records import Records

LINE_ITEM = "OpportunityLineItem"
FAMILIES = ("Services", "Software", "Hardware", "Training", "Support")
#: Fields whose change re-saves the parent Opportunity (they change its Amount).
ROLLED_UP = {"Quantity", "UnitPrice", "TotalPrice", "Discount"}
_RO = {"updateable": False, "createable": False}


def _reference(name: str, target: str, relationship: str, **kw: Any) -> FieldDef:
    return FieldDef(
        name,
        "reference",
        name,
        length=18,
        reference_to=(target,),
        relationship_name=relationship,
        **kw,
    )


def product2() -> ObjectDef:
    obj = ObjectDef("Product2", "01t", "Product")
    _system_fields(obj, with_owner=False)
    obj.add(_text("Name", 255, "Product Name", nillable=False))
    obj.add(_text("ProductCode", 255, "Product Code"))
    obj.add(_text("Family", 255, "Product Family", type="picklist", picklist=FAMILIES))
    obj.add(FieldDef("IsActive", "boolean", "Active", nillable=False))
    obj.add(_text("Description", 4000, "Product Description", type="textarea"))
    obj.add(
        _text(
            "QuantityUnitOfMeasure",
            255,
            "Quantity Unit Of Measure",
            type="picklist",
            picklist=("Each", "Hour", "Day"),
        )
    )
    return obj


def pricebook2() -> ObjectDef:
    obj = ObjectDef("Pricebook2", "01s", "Price Book")
    _system_fields(obj, with_owner=False)
    obj.add(_text("Name", 255, "Price Book Name", nillable=False))
    obj.add(FieldDef("IsActive", "boolean", "Active", nillable=False))
    obj.add(FieldDef("IsStandard", "boolean", "Is Standard Price Book", nillable=False, **_RO))
    return obj


def pricebook_entry() -> ObjectDef:
    obj = ObjectDef("PricebookEntry", "01u", "Price Book Entry")
    _system_fields(obj, with_owner=False)
    obj.add(
        _reference("Pricebook2Id", "Pricebook2", "Pricebook2", nillable=False, updateable=False)
    )
    obj.add(_reference("Product2Id", "Product2", "Product2", nillable=False, updateable=False))
    obj.add(FieldDef("UnitPrice", "currency", "List Price", precision=18, scale=2, nillable=False))
    obj.add(FieldDef("IsActive", "boolean", "Active", nillable=False))
    obj.add(_text("Name", 255, "Product Name", **_RO))
    obj.add(_text("ProductCode", 255, "Product Code", **_RO))
    return obj


def line_item() -> ObjectDef:
    obj = ObjectDef(LINE_ITEM, "00k", "Opportunity Product")
    _system_fields(obj, with_owner=False)
    obj.add(
        _reference("OpportunityId", "Opportunity", "Opportunity", nillable=False, updateable=False)
    )
    obj.add(
        _reference(
            "PricebookEntryId", "PricebookEntry", "PricebookEntry", nillable=False, updateable=False
        )
    )
    obj.add(_reference("Product2Id", "Product2", "Product2", **_RO))
    obj.add(_text("ProductCode", 255, "Product Code", **_RO))
    obj.add(_text("Name", 376, "Opportunity Product Name", **_RO))
    obj.add(FieldDef("Quantity", "double", precision=12, scale=2, nillable=False))
    obj.add(FieldDef("UnitPrice", "currency", "Sales Price", precision=18, scale=2))
    obj.add(FieldDef("ListPrice", "currency", "List Price", precision=18, scale=2, **_RO))
    obj.add(FieldDef("TotalPrice", "currency", "Total Price", precision=18, scale=2))
    obj.add(FieldDef("Discount", "percent", precision=5, scale=2))
    obj.add(FieldDef("ServiceDate", "date", "Date"))
    obj.add(_text("Description", 255, "Line Description"))
    obj.add(FieldDef("SortOrder", "int", "Sort Order", precision=9))
    # the hours a salesperson estimated for a service line: a common custom field, which the
    # structure example reads
    obj.add(
        FieldDef(
            "Estimated_Hours__c", "double", "Estimated Hours", precision=8, scale=2, custom=True
        )
    )
    return obj


def opportunity_fields(opportunity: ObjectDef) -> None:
    """The line-item fields of Opportunity and its child relationship ``OpportunityLineItems``."""
    opportunity.add(_reference("Pricebook2Id", "Pricebook2", "Pricebook2"))
    opportunity.add(
        FieldDef("HasOpportunityLineItem", "boolean", "Has Line Item", nillable=False, **_RO)
    )
    opportunity.children["opportunitylineitems"] = (
        "OpportunityLineItems",
        LINE_ITEM,
        "OpportunityId",
    )


def objects() -> tuple[ObjectDef, ...]:
    return product2(), pricebook2(), pricebook_entry(), line_item()


# ------------------------------------------------------------------------------ write rules


def prepare_line(records: Records, stored: dict[str, Any], row: dict[str, Any] | None) -> None:
    """Derived values of a line item being created (``row`` None) or updated, in place."""
    if row is None:
        if ("UnitPrice" in stored) == ("TotalPrice" in stored):
            raise RecordFailure(
                "FIELD_INTEGRITY_EXCEPTION",
                "field integrity exception: unknown (must specify either UnitPrice or "
                "TotalPrice, but not both)",
                ["UnitPrice", "TotalPrice"],
            )
        entry = records.store.row(records.object("PricebookEntry"), stored["PricebookEntryId"])
        product = records.store.row(records.object("Product2"), entry["Product2Id"])
        opportunity = records.store.row(records.object("Opportunity"), stored["OpportunityId"])
        stored.update(
            Product2Id=product["Id"],
            ProductCode=product["ProductCode"],
            ListPrice=entry["UnitPrice"],
            Name=f"{opportunity['Name']} {product['Name']}"[:376],
        )
        quantity = stored["Quantity"]
    else:
        if "UnitPrice" in stored and "TotalPrice" in stored:
            raise RecordFailure(
                "FIELD_INTEGRITY_EXCEPTION",
                "field integrity exception: unknown (cannot change both UnitPrice and TotalPrice)",
                ["UnitPrice", "TotalPrice"],
            )
        quantity = stored.get("Quantity", row["Quantity"])
        if "TotalPrice" not in stored and "UnitPrice" not in stored and "Quantity" in stored:
            # an org holds TotalPrice: moving Quantity alone moves UnitPrice
            stored["UnitPrice"] = (
                round(row["TotalPrice"] / quantity, 2) if quantity else row["UnitPrice"]
            )
    if quantity is not None and quantity <= 0:
        raise RecordFailure(
            "FIELD_INTEGRITY_EXCEPTION",
            "field integrity exception: Quantity (quantity must be nonzero and positive)",
            ["Quantity"],
        )
    if "TotalPrice" in stored and "UnitPrice" not in stored:
        stored["UnitPrice"] = round(stored["TotalPrice"] / quantity, 2)
    elif "UnitPrice" in stored:
        stored["TotalPrice"] = round(stored["UnitPrice"] * quantity, 2)


def rolls_up(stored: dict[str, Any]) -> bool:
    """Whether a line item write re-saves its Opportunity."""
    return bool(ROLLED_UP & set(stored))


def roll_up(records: Records, opportunity_id: str) -> None:
    """Re-save the Opportunity as an org does after a line change: Amount, HasOpportunityLineItem,
    and its stamps."""
    with records.store.lock:
        count, total = records.store.db.execute(
            'SELECT COUNT(*), SUM(TotalPrice) FROM "OpportunityLineItem" WHERE OpportunityId = ?',
            [opportunity_id],
        ).fetchone()
    opportunity = records.object("Opportunity")
    values: dict[str, Any] = {"HasOpportunityLineItem": int(count > 0)}
    if count:
        values["Amount"] = round(total or 0.0, 2)
    records.touch(opportunity, opportunity_id, values, None)


def delete_line(records: Records, record_id: str) -> None:
    """A line item is deleted for good (no recycle bin), and its Opportunity re-saved."""
    obj = records.object(LINE_ITEM)
    row = records.store.row(obj, record_id)
    records.capture.note(obj, record_id)
    with records.store.lock:
        records.store.db.execute('DELETE FROM "OpportunityLineItem" WHERE Id = ?', [record_id])
    roll_up(records, row["OpportunityId"])
