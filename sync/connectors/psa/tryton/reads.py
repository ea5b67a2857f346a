"""Reading Tryton: projects by key, by id, linked and unlinked, with their delivery values.

Every read is a ``search_read`` on project.work asking for the key, the status and our fields at
once, ``PAGE`` records a call: finding n keys or reading n projects costs ⌈n/PAGE⌉ calls, and the
hours, percent complete, revenue and cost come with the same read (Tryton computes them), so a
delivery read needs no call per project.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from sync.connectors.psa.base import Delivery, ProjectRef
from sync.connectors.psa.redmine.fields import plain_decimal
from sync.connectors.psa.tryton.site import COMPUTED, KEY, TrytonSite, hours, percent

PAGE = 500
_ID = re.compile(r"^\d{1,18}$")


class TrytonReads:
    """The read half of the Tryton connector (every method is batch-shaped)."""

    def __init__(self, site: TrytonSite):
        self.site = site

    def search(self, domain: list, *, limit: int | None = None) -> list[dict]:
        """Every project.work matching ``domain`` with our fields, ``PAGE`` a call, oldest first."""
        fields = self.site.read_fields()
        found: list[dict] = []
        offset = 0
        while True:
            page = self.site.read_call("search_read", domain, offset, PAGE, [["id", "ASC"]], fields)
            found.extend(page)
            offset += len(page)
            if len(page) < PAGE or (limit is not None and len(found) >= limit):
                return found

    def records(self, ids: Sequence[int]) -> dict[int, dict]:
        """id -> record of those that exist, ⌈ids/PAGE⌉ calls."""
        unique = list(dict.fromkeys(int(i) for i in ids))
        out: dict[int, dict] = {}
        for start in range(0, len(unique), PAGE):
            for record in self.search([["id", "in", unique[start : start + PAGE]]]):
                out[record["id"]] = record
        return out

    def by_id(self, work_id: int) -> dict | None:
        return self.records([work_id]).get(int(work_id))

    def by_key(self, key: str) -> dict | None:
        found = self.search([[KEY, "=", key]], limit=1)
        return found[0] if found else None

    def find(self, keys: Sequence[str]) -> dict[str, list[ProjectRef]]:
        """Every project carrying each key: at most one, since the key is unique in the database."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, list[ProjectRef]] = {k: [] for k in wanted}
        for start in range(0, len(wanted), PAGE):
            for record in self.search([[KEY, "in", wanted[start : start + PAGE]]]):
                ref = self.site.ref(record)
                if ref.key in found:
                    found[ref.key].append(ref)
        return found

    def list_linked(self) -> list[ProjectRef]:
        # a phase is a work of type project with a child key (it holds a "/"): not a deal's project
        domain = [[KEY, "!=", None], [KEY, "not like", "%/%"], ["type", "=", "project"]]
        return [self.site.ref(r) for r in self.search(domain)]

    def list_unlinked(self) -> list[tuple[ProjectRef, dict]]:
        records = self.search([[KEY, "=", None], ["type", "=", "project"]])
        return [(self.site.ref(r), self.site.values(r)) for r in records]

    def project(self, ref: str) -> tuple[ProjectRef, dict] | None:
        """One project by its id, or by the identifier psa-sync gives it (prefix + key)."""
        text = str(ref).strip()
        record = None
        if _ID.match(text):
            record = self.by_id(int(text))
        elif text.lower().startswith(self.site.identifier_prefix):
            key = text[len(self.site.identifier_prefix) :]
            matches = self.search([[KEY, "ilike", key]], limit=2)
            record = next((r for r in matches if (r.get(KEY) or "").lower() == key.lower()), None)
        return None if record is None else (self.site.ref(record), self.site.values(record))

    def read(self, refs: Sequence[ProjectRef]) -> dict[str, dict]:
        by_id = self.records([r.id for r in refs])
        return {r.key: self.site.values(by_id[r.id]) for r in refs if r.id in by_id}

    def delivery(self, refs: Sequence[ProjectRef], want_hours: bool) -> dict[str, Delivery]:
        """Status, percent complete, hours, revenue and cost from one read (⌈refs/PAGE⌉ calls).
        Hours come at no extra cost, so they are there whether or not they were asked for."""
        got = self.site.fields()
        by_id = self.records([r.id for r in refs])
        result = {}
        for ref in refs:
            record = by_id.get(ref.id)
            if record is None:
                continue
            figures = {
                ours: _plain(record.get(theirs))
                for ours, (theirs, kind, _) in COMPUTED.items()
                if kind == "decimal" and ours != "spent_hours" and theirs in got
            }
            result[ref.key] = Delivery(
                status=self.site.ref(record).status,
                percent_complete=percent(record.get("progress")),
                spent_hours=hours(record.get("timesheet_duration")),
                values=self.site.values(record),
                figures=figures,
            )
        return result


def _plain(value: object) -> Decimal | None:
    return plain_decimal(value) if isinstance(value, Decimal) else None
