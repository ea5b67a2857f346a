"""Canned Redmine answers shared by the connector's unit tests (the fixtures are in conftest.py)."""

from __future__ import annotations

from sync.connectors.psa.base import NewProject, ProjectRef

URL = "http://redmine.test"
API_KEY = "s3cr3t-api-key-0123456789abcdef01234567"
KEY = "006AK00000AbCdEQAA"
IDENT = "sf-006ak00000abcdeqaa"


def _cf(cf_id, name, fmt, required=False, values=None):
    body = {
        "id": cf_id,
        "name": name,
        "customized_type": "project",
        "field_format": fmt,
        "is_required": required,
    }
    if values:
        body["possible_values"] = [{"value": v, "label": v} for v in values]
    return body


CUSTOM_FIELDS = {
    "custom_fields": [
        _cf(1, "Salesforce Opportunity Id", "string"),
        _cf(2, "Customer", "string"),
        _cf(3, "Budget", "float"),
        _cf(4, "Billing type", "list", True, ["Fixed Fee", "Time & Materials", "Retainer"]),
        _cf(5, "Start date", "date"),
        _cf(6, "End date", "date"),
        _cf(7, "Percent complete", "int"),
        {"id": 9, "name": "Team", "customized_type": "issue", "field_format": "string"},
    ]
}


def project(pid=7, identifier=IDENT, key=KEY, status=1, budget="125000.5", **extra):
    return {
        "id": pid,
        "name": "Acme - Impl",
        "identifier": identifier,
        "description": "",
        "status": status,
        "custom_fields": [
            {"id": 1, "name": "Salesforce Opportunity Id", "value": key},
            {"id": 3, "name": "Budget", "value": budget},
            {"id": 4, "name": "Billing type", "value": "Fixed Fee"},
            {"id": 5, "name": "Start date", "value": "2026-02-01"},
            {"id": 7, "name": "Percent complete", "value": ""},
        ],
        **extra,
    }


REF = ProjectRef(7, IDENT, KEY, f"{URL}/projects/{IDENT}", "active")


def new(key=KEY, **fields):
    return NewProject(key, {"name": "Acme - Impl", "billing_type": "Fixed Fee", **fields})


def posts(rsps) -> int:
    return len([c for c in rsps.calls if c.request.method == "POST"])
