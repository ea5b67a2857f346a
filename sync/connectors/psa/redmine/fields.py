"""Redmine custom fields: resolving our field names to ids, and typed values to and from strings.

Redmine has no customer, budget, dates or percent complete on projects: each is a project custom
field, found by *name* (``psa.options.custom_fields``) because ids differ between installations.
Redmine returns every custom value as a string ("125000.5"), so values are converted back to typed
values per the field's format; otherwise "125000.5" vs Decimal("125000.50") looks like a change
(a phantom update or a phantom conflict) on every run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sync.common.errors import ConfigError
from sync.connectors.psa.base import FieldSpec

#: our project field -> Redmine custom field name (docs/architecture.md §6.1)
DEFAULT_CUSTOM_FIELDS: dict[str, str] = {
    "key": "Salesforce Opportunity Id",
    "customer": "Customer",
    "budget": "Budget",
    "billing_type": "Billing type",
    "start_date": "Start date",
    "end_date": "End date",
    "percent_complete": "Percent complete",
    "salesforce_status": "Salesforce status",
    "stage": "Stage",  # pipeline.stage_field of tentative projects
}

#: native project attributes we write, with their FieldSpec
NATIVE_FIELDS: dict[str, FieldSpec] = {
    "name": FieldSpec("name", "string", True, None, "name"),
    "description": FieldSpec("description", "string", False, None, "description"),
}

#: ``GET /custom_fields.json`` as :func:`parse_custom_fields` reads it (checked before it does).
CUSTOM_FIELDS = {
    "custom_fields": [
        {"id": int, "name": str, "field_format?": str, "possible_values?": [{"value": object}]}
    ],
}

# Redmine field_format -> our type
_FORMATS = {
    "string": "string",
    "text": "string",
    "link": "string",
    "float": "decimal",
    "int": "integer",
    "date": "date",
    "bool": "boolean",
    "list": "list",
}


@dataclass(frozen=True)
class CustomField:
    """One resolved Redmine project custom field."""

    id: int
    name: str  # Redmine's name
    field_format: str  # Redmine's format: string, float, int, date, bool, list, ...
    required: bool
    allowed: tuple[str, ...] | None

    @property
    def type(self) -> str:
        return _FORMATS.get(self.field_format, "string")


def parse_custom_fields(payload: dict) -> dict[str, CustomField]:
    """``GET /custom_fields.json`` body -> project custom fields by Redmine name."""
    found: dict[str, CustomField] = {}
    for item in payload["custom_fields"]:
        if item.get("customized_type") != "project":
            continue
        values = item.get("possible_values")
        allowed = tuple(v["value"] for v in values) if values else None
        found[item["name"]] = CustomField(
            id=int(item["id"]),
            name=item["name"],
            field_format=item.get("field_format", "string"),
            required=bool(item.get("is_required")),
            allowed=allowed,
        )
    return found


def resolve(
    available: dict[str, CustomField], wanted: dict[str, str], explicit: set[str]
) -> dict[str, CustomField]:
    """Map our field names to Redmine custom fields.

    The key field, and every field the user named explicitly in ``custom_fields``, must exist:
    otherwise a ``ConfigError`` lists them all with what to do. A *default* name that this
    Redmine lacks just leaves that field out of ``describe()``, so a Redmine without e.g.
    "Salesforce status" still works for mappings that do not use it.
    """
    resolved: dict[str, CustomField] = {}
    problems = []
    for ours, name in wanted.items():
        if name in available:
            resolved[ours] = available[name]
        elif ours == "key" or ours in explicit:
            problems.append(
                f"psa.options.custom_fields.{ours}: Redmine has no project custom field named "
                f"{name!r}. Create it (Administration > Custom fields > Project) or fix the name "
                "in the config."
            )
    if problems:
        raise ConfigError(problems)
    return resolved


def field_specs(fields: dict[str, CustomField]) -> dict[str, FieldSpec]:
    """The FieldSpecs of native fields and resolved custom fields (the key excluded: it is ours)."""
    specs = dict(NATIVE_FIELDS)
    for ours, cf in fields.items():
        if ours != "key":
            specs[ours] = FieldSpec(ours, cf.type, cf.required, cf.allowed, cf.name)
    return specs


def plain_decimal(value: Decimal) -> Decimal:
    """A decimal without trailing zeros or exponent: "125000.50" and "125000.5" become one value."""
    if not value.is_finite():
        return value
    normal = value.normalize()
    exponent = normal.as_tuple().exponent  # an int once finite ("n", "N", "F" are not)
    return normal.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normal


def to_redmine(value: Any) -> str:
    """A typed value as Redmine wants it: plain-decimal strings, ISO dates, "" for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def from_redmine(raw: Any, field_format: str) -> Any:
    """A Redmine string back to a typed value per the custom field's format ("" -> None).

    A value that does not parse (Redmine validates, so only a changed field format could cause
    it) is returned as the raw string rather than failing the whole read.
    """
    if raw is None or raw == "" or isinstance(raw, list):
        return None if raw in (None, "", []) else raw
    try:
        if field_format == "float":
            return plain_decimal(Decimal(raw))
        if field_format == "int":
            return int(raw)
        if field_format == "date":
            return dt.date.fromisoformat(raw)
        if field_format == "bool":
            return raw == "1"
    except (InvalidOperation, ValueError):
        return raw
    return raw


def custom_value(project: dict, cf: CustomField) -> Any:
    """The typed value of one custom field in a Redmine project JSON (None when absent)."""
    for item in project.get("custom_fields", []):
        if item.get("id") == cf.id:
            return from_redmine(item.get("value"), cf.field_format)
    return None


def typed_values(project: dict, fields: dict[str, CustomField]) -> dict[str, Any]:
    """A Redmine project JSON as our field -> typed value (name, description, custom fields)."""
    values: dict[str, Any] = {
        "name": project.get("name"),
        "description": project.get("description") or None,
    }
    for ours, cf in fields.items():
        values[ours] = custom_value(project, cf)
    return values


def project_body(
    fields: dict[str, Any], cfs: dict[str, CustomField], *, key: str | None, where: str
) -> dict:
    """Our typed fields as the ``project`` object of a POST/PUT; ``key`` sets the key field.

    A field with no place in this Redmine is a ``ConfigError``: ``check`` should have caught it,
    and writing the rest would silently drop a value the user mapped.
    """
    project: dict[str, Any] = {}
    custom = {}
    for name, value in fields.items():
        if name in NATIVE_FIELDS:
            project[name] = "" if value is None else str(value)
        elif name in cfs:
            custom[cfs[name].id] = to_redmine(value)
        else:
            raise ConfigError(
                f"project field {name!r} has no place in Redmine at {where}: map it to a project "
                "custom field in psa.options.custom_fields (or create the custom field in Redmine)"
            )
    if key is not None:
        custom[cfs["key"].id] = key
    if custom:
        project["custom_fields"] = [{"id": i, "value": v} for i, v in custom.items()]
    return project
