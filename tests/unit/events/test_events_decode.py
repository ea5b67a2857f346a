"""Decoding change events: header bitmaps → field names against the writer schema, Avro payloads."""

from __future__ import annotations

import io
import json

import fastavro
import pytest

from sync.emulator.pubsub.avro import HEADER_SCHEMA, bitmap
from sync.events.decode import BitmapError, Decoder, expand

FIELDS = ["ChangeEventHeader", "Name", "StageName", "Amount", "CloseDate", "LastModifiedDate"]
SCHEMA = {
    "type": "record",
    "name": "OpportunityChangeEvent",
    "namespace": "com.sforce.eventbus",
    "fields": [
        {"name": "ChangeEventHeader", "type": HEADER_SCHEMA},
        *({"name": n, "type": ["null", "string"], "default": None} for n in ("Name", "StageName")),
        {"name": "Amount", "type": ["null", "double"], "default": None},
        {"name": "CloseDate", "type": ["null", "int"], "default": None},
        {"name": "LastModifiedDate", "type": ["null", "long"], "default": None},
        {
            "name": "BillingAddress",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "Address",
                    "fields": [
                        {"name": "Street", "type": ["null", "string"]},
                        {"name": "City", "type": ["null", "string"]},
                    ],
                },
            ],
            "default": None,
        },
    ],
}


def test_a_bitmap_names_the_fields_whose_bits_are_set():
    assert expand("0x24", FIELDS) == ["StageName", "LastModifiedDate"]
    assert expand("0x0", FIELDS) == []


def test_a_bit_past_the_schema_says_the_wrong_schema_was_used():
    with pytest.raises(BitmapError, match="schema_id"):
        expand("0x40", FIELDS)


def test_compound_entries_name_the_nested_fields():
    decoder = Decoder(json.dumps(SCHEMA))
    assert decoder.expand(["0x4", "6-0x2"]) == ("StageName", "BillingAddress.City")


def test_the_emulators_bitmaps_round_trip_and_a_payload_decodes_to_header_and_body():
    header = {
        "entityName": "Opportunity",
        "recordIds": ["006000000000001AAA"],
        "changeType": "UPDATE",
        "changeOrigin": "com/salesforce/api/rest/62.0;client=psa-sync",
        "transactionKey": "t",
        "sequenceNumber": 1,
        "commitTimestamp": 5,
        "commitNumber": 6,
        "commitUser": "005",
        "nulledFields": bitmap([3]),
        "diffFields": [],
        "changedFields": bitmap([2, 3, 5]),
    }
    record = {
        "ChangeEventHeader": header,
        "Name": None,
        "StageName": "Closed Won",
        "Amount": None,
        "CloseDate": None,
        "LastModifiedDate": 7,
        "BillingAddress": None,
    }
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(SCHEMA), record)
    event = Decoder(json.dumps(SCHEMA)).event(out.getvalue())
    assert event.changed_fields == ("StageName", "Amount", "LastModifiedDate")
    assert event.nulled_fields == ("Amount",) and event.body == {
        "StageName": "Closed Won",
        "LastModifiedDate": 7,
    }
    assert event.client() == "psa-sync" and not event.is_gap and not event.is_wildcard
