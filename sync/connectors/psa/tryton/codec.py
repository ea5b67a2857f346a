"""Tryton's JSON values: Decimal, date, datetime, time, timedelta and bytes travel as objects.

``{"__class__": "Decimal", "decimal": "125000.50"}``, ``{"__class__": "date", "year": 2026,
"month": 2, "day": 1}``, ``{"__class__": "timedelta", "seconds": 27000.0}`` (trytond 8.2,
README.md "Tryton"). :func:`encode` writes them for a request and :func:`decode` reads them back
from an answer; an object of a known class with missing or bad parts is left as it came, for the
caller's shape check to name.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal
from typing import Any


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": format(value, "f")}
    if isinstance(value, dt.datetime):
        return {
            "__class__": "datetime",
            "year": value.year,
            "month": value.month,
            "day": value.day,
            "hour": value.hour,
            "minute": value.minute,
            "second": value.second,
            "microsecond": value.microsecond,
        }
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, dt.timedelta):
        return {"__class__": "timedelta", "seconds": value.total_seconds()}
    if isinstance(value, bytes):
        return {"__class__": "bytes", "base64": base64.b64encode(value).decode()}
    raise TypeError(f"cannot send a {type(value).__name__} to Tryton")


def encode(payload: Any) -> str:
    """``payload`` as Tryton's JSON (Decimal, dates, timedelta, bytes as ``__class__`` objects)."""
    return json.dumps(payload, default=_default, separators=(",", ":"))


def _hook(obj: dict) -> Any:
    kind = obj.get("__class__")
    if kind is None:
        return obj
    try:
        if kind == "Decimal":
            return Decimal(obj["decimal"])
        if kind == "date":
            return dt.date(obj["year"], obj["month"], obj["day"])
        if kind == "datetime":
            return dt.datetime(
                obj["year"],
                obj["month"],
                obj["day"],
                obj.get("hour", 0),
                obj.get("minute", 0),
                obj.get("second", 0),
                obj.get("microsecond", 0),
            )
        if kind == "time":
            return dt.time(
                obj.get("hour", 0),
                obj.get("minute", 0),
                obj.get("second", 0),
                obj.get("microsecond", 0),
            )
        if kind == "timedelta":
            return dt.timedelta(seconds=obj["seconds"])
        if kind == "bytes":
            return base64.b64decode(obj["base64"])
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return obj
    return obj


def decode(text: str | bytes) -> Any:
    """Tryton's JSON back to Python values (the inverse of :func:`encode`)."""
    return json.loads(text, object_hook=_hook)
