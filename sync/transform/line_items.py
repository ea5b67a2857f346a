"""A deal's ``OpportunityLineItem`` rows, read from the REST record, and each service's task.

The rows come nested in the deal (``record["OpportunityLineItems"]["records"]``, each with
``Product2: {Name, ProductCode, Family}``); no line items is ``null`` or an empty list. A nested
result that still says ``done: false`` was not read to its end: making a plan from part of a
deal's lines would route it wrong and leave tasks out, so that deal is a record error instead.

Pure: every problem is a :class:`StructureProblem` naming the line item's Id, so the deal is
quarantined with a reason a person can act on (docs/architecture.md §14).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sync.common.structure import LINE_ITEMS
from sync.mapping.model import DROP
from sync.mapping.structure_rules import SERVICE_DATE, LineItemRules, RelativeDate
from sync.transform.coerce import normalize_decimal

HUNDREDTH = Decimal("0.01")
NAME_MAX = 255  # Redmine: an issue's subject


class StructureProblem(ValueError):
    """Why a deal's structure cannot be made: the deal goes to quarantine with this reason."""


def line_items_of(record: Mapping[str, Any], required: bool = True) -> list[dict]:
    """The deal's line items in a stable order (SortOrder, then Id), whatever order they came in.

    ``required``: the structure reads line items, so a record that does not carry the relationship
    at all (not even ``null``) was read without the subquery; planning it as a deal with no line
    items would silently leave every sold service out."""
    nested = _get(record, LINE_ITEMS) if isinstance(record, dict) else _ABSENT
    if nested is _ABSENT:
        if required:
            raise StructureProblem(
                f"the record carries no {LINE_ITEMS} (not even null): it was read without the "
                "line-item subquery, and a plan without its line items would leave them out"
            )
        return []
    if nested is None:
        return []
    rows = nested.get("records") if isinstance(nested, Mapping) else nested
    if isinstance(nested, Mapping) and _partial(nested, rows):
        raise StructureProblem(
            f"{LINE_ITEMS}: only {len(rows or [])} of {nested.get('totalSize', '?')} line items "
            "were read (the nested nextRecordsUrl was not followed); no plan from part of a deal"
        )
    if not isinstance(rows, list) or not all(isinstance(row, Mapping) for row in rows):
        raise StructureProblem(f"{LINE_ITEMS}: not a list of line items")
    seen: set[str] = set()
    for row in rows:
        item_id = row.get("Id")
        if not isinstance(item_id, str) or not item_id:
            raise StructureProblem(
                f"{LINE_ITEMS}: a line item has no Id (select Id in the subquery)"
            )
        if item_id in seen:
            raise StructureProblem(f"line item {item_id} appears twice in the deal's line items")
        seen.add(item_id)
    return sorted(rows, key=_order)


def _partial(nested: Mapping[str, Any], rows: Any) -> bool:
    """A nested result still ``done: false`` with fewer rows than its ``totalSize`` (a reader that
    followed the nested pages may have appended them without touching ``done``)."""
    total = nested.get("totalSize")
    if nested.get("done") is not False:
        return False
    return not isinstance(total, int) or not isinstance(rows, list) or len(rows) < total


def _order(row: Mapping[str, Any]) -> tuple:
    """SortOrder (as a person chose in Salesforce) first, lines without one last; Id breaks ties."""
    sort = row.get("SortOrder")
    if isinstance(sort, (int, float)) and not isinstance(sort, bool):
        return (0, sort, row["Id"])
    return (1, 0, row["Id"])


def value(record: Mapping[str, Any] | None, path: str, required: bool = False) -> Any:
    """A field or parent path (``Product2.Family``) of a REST record, ignoring case; an empty lookup
    is None. A Bulk CSV row carries a parent field flat (``"Product2.Name"``), read as well.
    ``required``: a field the record does not carry at all is a problem (not selected)."""
    current: Any = record
    for part in path.split("."):
        if not isinstance(
            current, dict
        ):  # JSON objects (a Mapping ABC check costs 4× more, per field)
            return None
        if part in current:
            current = current[part]
            continue
        found = _get(current, part)
        if found is _ABSENT and current is record and "." in path:
            found = _get(current, path)
            if found is not _ABSENT:
                return None if found == "" else found
        if found is _ABSENT:
            if required:
                raise StructureProblem(
                    f"line item {record.get('Id')}: has no field {path} (select it in the subquery)"
                )
            return None
        current = found
    return current


_ABSENT = object()


def _get(record: dict, key: str) -> Any:
    lowered = key.lower()
    return next((v for k, v in record.items() if k.lower() == lowered), _ABSENT)


def decimal_of(raw: Any, what: str) -> Decimal | None:
    if raw is None or raw == "":
        return None
    try:
        number = Decimal(str(raw)) if not isinstance(raw, bool) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise StructureProblem(f"{what} {raw!r} is not a number")
    return number


def product_code(item: Mapping[str, Any]) -> str | None:
    return value(item, "ProductCode") or value(item, "Product2.ProductCode")


def role_of(item: Mapping[str, Any], rules: LineItemRules) -> str | None:
    product = rules.products.get(product_code(item) or "")
    return product.role if product is not None and product.role else rules.default_role


def hours_of(item: Mapping[str, Any], rules: LineItemRules, role: str | None) -> Decimal:
    """The first rule with a value: ``hours_from``, Quantity × hours_per_unit, TotalPrice ÷ rate."""
    where = f"line item {item['Id']}"
    if rules.hours_from:
        hours = decimal_of(
            value(item, rules.hours_from, required=True), f"{where}: {rules.hours_from}"
        )
        if hours is not None:
            if hours < 0:
                raise StructureProblem(f"{where}: {rules.hours_from} {hours} is negative")
            return _hours(hours.quantize(HUNDREDTH, ROUND_HALF_UP))
    code = product_code(item)
    product = rules.products.get(code or "")
    if product is not None and product.hours_per_unit is not None:
        quantity = decimal_of(value(item, "Quantity"), f"{where}: Quantity")
        if quantity is None:
            raise StructureProblem(f"{where}: no Quantity to multiply by {code}'s hours_per_unit")
        return _hours((quantity * product.hours_per_unit).quantize(HUNDREDTH, ROUND_HALF_UP))
    if role is not None and role in rules.rates:
        total = decimal_of(value(item, "TotalPrice"), f"{where}: TotalPrice")
        if total is None:
            raise StructureProblem(f"{where}: no TotalPrice to divide by the rate of {role}")
        return _hours((total / rules.rates[role]).quantize(HUNDREDTH, ROUND_HALF_UP))
    no_rate = (
        f"its role {role!r} has no rate"
        if role
        else "it has no role (products or default_role) for a rate"
    )
    raise StructureProblem(
        f"{where} (product {code or '(no code)'} {value(item, 'Product2.Name') or ''!s}): "
        "no hours rule gives its estimate: "
        f"{f'{rules.hours_from} is empty, ' if rules.hours_from else ''}"
        f"{code or 'its product'} has no hours_per_unit under structure.line_items.products, "
        f"and {no_rate}"
    )


def _hours(hours: Decimal) -> Decimal:
    """Hundredths of an hour in one form (``80``, not ``80.00``), as the PSA shows them."""
    return normalize_decimal(hours)


def quantity_checked(item: Mapping[str, Any]) -> Decimal | None:
    quantity = decimal_of(value(item, "Quantity"), f"line item {item['Id']}: Quantity")
    if quantity is not None and quantity < 0:
        raise StructureProblem(
            f"line item {item['Id']}: Quantity {quantity} is negative; a service sold makes a "
            "task with hours, never fewer than none"
        )
    return quantity


def service_date(item: Mapping[str, Any]) -> date | None:
    raw = value(item, "ServiceDate")
    if raw is None or raw == "":
        return None
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError:
        raise StructureProblem(
            f"line item {item['Id']}: ServiceDate {raw!r} is not a date"
        ) from None


def task_name(item: Mapping[str, Any], rules: LineItemRules) -> str:
    """The ``name`` template rendered on the line item, else the product's name (or code, or Id)."""
    text = render(rules.name_parts, item) if rules.name_parts else None
    text = (text or "").strip() or str(
        value(item, "Product2.Name") or value(item, "Name") or product_code(item) or item["Id"]
    )
    return text[:NAME_MAX]


def render(
    parts: tuple[tuple[str, str | None, str | None], ...], item: Mapping[str, Any]
) -> str | None:
    """One record's template, with the semantics of :func:`sync.transform.rules.render_template`
    (``{Field|?}`` leaves the part out with the separator before it; all fields empty: None)."""
    out, started, all_null = "", False, True
    for position, (literal, name, empty) in enumerate(parts):
        if name is None or position == 0:
            out += literal
        if name is None:
            continue
        text = _text(value(item, name))
        if text is None and empty not in (None, DROP):
            text = empty
        all_null &= text is None
        if text is None and empty == DROP:
            continue
        out += (literal if position and started else "") + (text or "")
        started = True
    return None if all_null else out


def _text(raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def dates_of(
    item: Mapping[str, Any], rules: LineItemRules, deal: dict[str, date | None]
) -> tuple[date | None, date | None]:
    """The task's start and due; ``deal`` holds its start and end."""
    values = {**deal, SERVICE_DATE: service_date(item)}
    return (
        resolve(rules.start, values, f"line item {item['Id']}: start"),
        resolve(rules.due, values, f"line item {item['Id']}: due"),
    )


def resolve(
    relative: RelativeDate | None, values: dict[str, date | None], what: str
) -> date | None:
    """The date, or a problem saying which base was empty (a relative date needs one)."""
    if relative is None:
        return None
    found = relative.resolve(values)
    if found is None:
        bases = " or ".join(_base_name(term.base) for term in relative.terms)
        raise StructureProblem(f"{what} is `{relative.text()}`, but the deal has no {bases}")
    return found


def _base_name(base: str) -> str:
    return {"start": "start date", "end": "end date", SERVICE_DATE: "ServiceDate on the line item"}[
        base
    ]
