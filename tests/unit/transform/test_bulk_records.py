"""A deal read as Bulk API 2.0 CSV maps to the same typed values and payload hash as over REST.

Each deal is written down once, as Salesforce holds it, then rendered twice the way Salesforce
renders it: as a REST query's JSON (parent lookups nested, ``null``, JSON numbers, datetimes with
``+0000``) and as a Bulk query job's CSV (``Account.Name`` columns, empty cells, ``true``/``false``,
datetimes with ``Z``, RFC 4180 quoting with newlines inside values). The CSV goes through
:class:`RecordShape` and both go through the mapping: any difference would be a phantom update.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from sync.connectors.salesforce.bulk_records import RecordShape, value_of
from sync.extract.incremental import select_fields
from sync.mapping.loader import load_mapping
from sync.transform.diff import payload_hash
from sync.transform.rows import transform

ROOT = Path(__file__).resolve().parents[3]
API_VERSION = "62.0"


def describe(*fields: tuple) -> dict:
    """A describe body with RecordShape's keys: (name, type[, relationshipName, referenceTo])."""
    entries = []
    for name, type_, *lookup in fields:
        relationship, targets = lookup or (None, [])
        entries.append(
            {"name": name, "type": type_, "relationshipName": relationship, "referenceTo": targets}
        )
    return {"fields": entries}


DESCRIBES = {
    "Opportunity": describe(
        ("Id", "id"),
        ("IsDeleted", "boolean"),
        ("SystemModstamp", "datetime"),
        ("Name", "string"),
        ("AccountId", "reference", "Account", ["Account"]),
        ("Amount", "currency"),
        ("Description", "textarea"),
        ("CloseDate", "date"),
        ("End_Date__c", "date"),
        ("Type", "picklist"),
        ("IsWon", "boolean"),
        ("IsClosed", "boolean"),
        ("Probability", "percent"),
        ("TotalOpportunityQuantity", "double"),
        ("Seats__c", "int"),
        ("Kickoff__c", "datetime"),
        ("PSA_Project_Id__c", "string"),
        ("PSA_Project_URL__c", "url"),
        ("PSA_Status__c", "picklist"),
        ("PSA_Percent_Complete__c", "percent"),
        ("PSA_Hours_Spent__c", "double"),
    ),
    "Account": describe(
        ("Id", "id"),
        ("Name", "string"),
        ("Website", "url"),
        ("OwnerId", "reference", "Owner", ["User"]),
    ),
    "User": describe(("Id", "id"), ("Name", "string")),
}

# A mapping that reads every type the mapping language has, and a grandparent lookup.
EVERY_TYPE = """\
version: 1
source: {object: Opportunity, criteria: "IsWon = true", start_date: 2026-01-01}
project:
  fields:
    name: {template: "{Account.Name} / {Name}"}
    owner: Account.Owner.Name
    website: Account.Website
    budget: {from: Amount, type: decimal}
    probability: {from: Probability, type: decimal}
    quantity: {from: TotalOpportunityQuantity, type: decimal}
    seats: {from: Seats__c, type: integer}
    won: {from: IsWon, type: boolean}
    start_date: {from: CloseDate, type: date}
    kickoff: {from: Kickoff__c, type: datetime}
    notes: Description
"""


class Num:
    """A number as Salesforce spells it: the same digits in JSON and CSV, unless ``csv`` differs."""

    def __init__(self, text: str, csv: str | None = None):
        self.json, self.csv = text, text if csv is None else csv


class Stamp(str):
    """A datetime in REST's form (``…+0000``); Bulk writes it with ``Z``."""


def account(name, website=None, owner: str | None = None, ident="001AK00000XyZaBYAV"):
    return {
        "attributes": {"type": "Account", "url": f"/services/data/v62.0/sobjects/Account/{ident}"},
        "Name": name,
        "Website": website,
        "Owner": {"attributes": {"type": "User"}, "Name": owner} if owner is not None else None,
    }


def deal(n: int, **values) -> dict:
    ident = f"006AK00000AbC{n:03d}QAA"
    record: dict[str, Any] = {
        "attributes": {
            "type": "Opportunity",
            "url": f"/services/data/v62.0/sobjects/Opportunity/{ident}",
        },
        "Id": ident,
        "SystemModstamp": Stamp("2026-03-01T10:00:00.000+0000"),
        "IsDeleted": False,
        "Name": f"Deal {n}",
        "Account": account("Acme", "https://acme.example", "Ada Admin"),
        "AccountId": "001AK00000XyZaBYAV",
        "Amount": Num("125000.5"),
        "Description": "Phase 1",
        "CloseDate": "2026-03-01",
        "End_Date__c": "2026-06-30",
        "Type": "New Customer",
        "IsWon": True,
        "IsClosed": True,
        "Probability": Num("100.0"),
        "TotalOpportunityQuantity": Num("3.0"),
        "Seats__c": Num("12"),
        "Kickoff__c": Stamp("2026-03-02T08:30:00.000+0000"),
        "PSA_Project_Id__c": None,
        "PSA_Project_URL__c": None,
        "PSA_Status__c": None,
        "PSA_Percent_Complete__c": None,
        "PSA_Hours_Spent__c": None,
    }
    record.update(values)
    return record


DEALS = [
    deal(1),
    deal(
        2,
        Description='Phase 1, "core" scope\nsecond line\r\nthird, with "quotes"',
        Amount=Num("0.1"),
        TotalOpportunityQuantity=Num("0.30000000000000004"),
    ),
    deal(
        3,
        Account=None,
        AccountId=None,
        Amount=None,
        Probability=None,
        Description=None,
        Type="Existing Customer - Upgrade",
        Kickoff__c=None,
        Seats__c=None,
    ),
    deal(
        4,
        Name="Café Ünïcode — 日本語 🚀",
        Account=account("Société Générale, Zürich", owner=None),
        Amount=Num("1.0E-7"),
        Probability=Num("0.0"),
    ),
    deal(
        5,
        Amount=Num("100.0", csv="100"),
        TotalOpportunityQuantity=Num("1.0E-7", csv="0.0000001"),
        Seats__c=Num("0"),
        Probability=Num("12.5"),
    ),
    deal(
        6,
        Account=account(None, website="https://nameless.example"),
        Amount=Num("12345678901234.56"),
        Type="Existing Customer - Downgrade",
    ),
    deal(
        7,
        IsDeleted=True,
        IsWon=False,
        IsClosed=True,
        Type="Existing Customer - Replacement",
        SystemModstamp=Stamp("2026-03-03T23:59:59.999+0000"),
    ),
    deal(
        8, Type="Partner Referral"
    ),  # not in the value map: the default mapping fails it, both ways alike
    deal(
        9,
        Name="null",
        Description="  padded  ",
        PSA_Project_Id__c="42",
        PSA_Project_URL__c="https://psa.example/projects/42",
        PSA_Status__c="active",
        PSA_Percent_Complete__c=Num("40.0"),
        PSA_Hours_Spent__c=Num("7.25"),
    ),
    deal(10, Amount=Num("-2500.75"), CloseDate="2024-02-29", Seats__c=Num("-3")),
]


def rest_json(records: list[dict]) -> list[dict]:
    """The records as a REST query page says them, as simple-salesforce reads them (json.loads)."""

    def out(value: Any) -> str:
        if isinstance(value, Num):
            return value.json
        if isinstance(value, dict):
            return "{" + ",".join(f"{json.dumps(k)}:{out(v)}" for k, v in value.items()) + "}"
        return json.dumps(value, ensure_ascii=False)

    rows = ",".join(out(r) for r in records)
    body = f'{{"totalSize":{len(records)},"done":true,"records":[{rows}]}}'
    return json.loads(body.encode("utf-8"))["records"]


def bulk_csv(records: list[dict], columns: list[str], quoting: int) -> bytes:
    """The records as a Bulk query job's results page: UTF-8 CSV, LF line ends, RFC 4180 quoting."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n", quoting=quoting)
    writer.writerow(columns)
    for record in records:
        writer.writerow([cell(record, column) for column in columns])
    return buffer.getvalue().encode("utf-8")


def cell(record: dict, column: str) -> str:
    value: Any = record
    for part in column.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, Num):
        return value.csv
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Stamp):
        return value.replace("+0000", "Z")
    return str(value)


def read_bulk(payload: bytes, calls: list[str] | None = None) -> list[dict]:
    def describe_once(sobject: str) -> dict:
        if calls is not None:
            calls.append(sobject)
        return DESCRIBES[sobject]

    rows = list(csv.reader(io.StringIO(payload.decode("utf-8"), newline="")))
    return RecordShape("Opportunity", describe_once, API_VERSION).records(rows[0], rows[1:])


@pytest.fixture(scope="module")
def mappings(tmp_path_factory):
    every = tmp_path_factory.mktemp("mapping") / "every_type.yaml"
    every.write_text(EVERY_TYPE)
    return {
        "default": load_mapping(ROOT / "mappings" / "opportunity_to_project.yaml"),
        "every type": load_mapping(every),
    }


def columns_of(mappings) -> list[str]:
    seen: dict[str, None] = {}
    for mapping in mappings.values():
        seen.update(dict.fromkeys(select_fields(mapping)))
    return list(seen)


@pytest.mark.parametrize(
    "quoting", [csv.QUOTE_MINIMAL, csv.QUOTE_ALL], ids=["minimal quotes", "all quoted"]
)
@pytest.mark.parametrize("which", ["default", "every type"])
def test_bulk_csv_and_rest_json_give_the_same_payload_hash_record_by_record(
    mappings, which, quoting
):
    mapping = mappings[which]
    from_rest = transform(rest_json(DEALS), mapping)
    from_bulk = transform(read_bulk(bulk_csv(DEALS, columns_of(mappings), quoting)), mapping)
    assert [r.record_id for r in from_bulk.rows] == [r.record_id for r in from_rest.rows]
    assert len(from_rest.rows) >= 8
    for rest, bulk in zip(from_rest.rows, from_bulk.rows, strict=True):
        assert payload_hash(bulk.fields) == payload_hash(rest.fields), rest.record_id
        assert bulk.fields == rest.fields
        assert (bulk.record_links, bulk.modstamp, bulk.deleted, bulk.matches) == (
            rest.record_links,
            rest.modstamp,
            rest.deleted,
            rest.matches,
        )
    failures = [(e.record_id, e.field, e.reason, e.payload) for e in from_rest.errors]
    assert [(e.record_id, e.field, e.reason, e.payload) for e in from_bulk.errors] == failures


def without_parent_urls(record: dict) -> dict:
    """Bulk has no parent Id unless it was selected, so a parent's attributes carry no url."""
    out = {}
    for name, value in record.items():
        if isinstance(value, dict) and name != "attributes":
            value = without_parent_urls(value)
            value["attributes"] = {"type": value["attributes"]["type"]}
        out[name] = value
    return out


def test_the_records_are_the_rest_records_field_for_field(mappings):
    got = read_bulk(bulk_csv(DEALS, columns_of(mappings), csv.QUOTE_MINIMAL))
    # deal 5 spells 100 and 1e-7 differently in CSV and JSON, and still reads as the same floats
    assert got == [without_parent_urls(record) for record in rest_json(DEALS)]
    assert got[2]["Account"] is None and got[3]["Account"]["Owner"] is None
    assert got[5]["Account"] == {
        "attributes": {"type": "Account"},
        "Name": None,
        "Website": "https://nameless.example",
        "Owner": None,
    }
    assert got[1]["Description"] == 'Phase 1, "core" scope\nsecond line\r\nthird, with "quotes"'
    assert got[0]["SystemModstamp"] == "2026-03-01T10:00:00.000+0000"
    assert (
        got[0]["attributes"]["url"]
        == "/services/data/v62.0/sobjects/Opportunity/006AK00000AbC001QAA"
    )


def test_each_object_is_described_once_however_many_pages():
    calls: list[str] = []
    shape_calls = read_bulk(
        bulk_csv(
            DEALS[:2], ["Id", "Account.Owner.Name", "Account.Name", "Name"], csv.QUOTE_MINIMAL
        ),
        calls,
    )
    assert len(shape_calls) == 2
    assert calls == ["Opportunity", "Account", "User"]


def test_header_names_are_matched_ignoring_case_and_given_their_describe_spelling():
    payload = b"ID,account.name,AMOUNT,isWON\n006AK00000AbC001QAA,Acme,5.5,TRUE\n"
    [record] = read_bulk(payload)
    assert record == {
        "attributes": {
            "type": "Opportunity",
            "url": "/services/data/v62.0/sobjects/Opportunity/006AK00000AbC001QAA",
        },
        "Id": "006AK00000AbC001QAA",
        "Account": {"attributes": {"type": "Account"}, "Name": "Acme"},
        "Amount": 5.5,
        "IsWon": True,
    }


@pytest.mark.parametrize(
    "type_,cell_text,value",
    [
        ("currency", "125000.5", 125000.5),
        ("double", "1.0E-7", 1e-7),
        ("percent", "100", 100.0),
        ("int", "42", 42),
        ("double", "NaN", "NaN"),
        ("currency", "12,5", "12,5"),
        ("boolean", "false", False),
        ("datetime", "2026-03-01T10:00:00.000Z", "2026-03-01T10:00:00.000+0000"),
        ("date", "2026-03-01", "2026-03-01"),
        ("string", "", None),
        ("boolean", "", None),
        ("string", "true", "true"),
        ("textarea", " a ", " a "),
        ("time", "10:00:00.000Z", "10:00:00.000Z"),
        ("unknown", "x", "x"),
    ],
)
def test_a_cell_takes_the_value_rest_json_gives_its_type(type_, cell_text, value):
    got = value_of(type_, cell_text)
    assert got == value and type(got) is type(value)
