"""The links table: each deal's project and the snapshot of what was last pushed (§4.1).

A part of :class:`sync.state.store.State` (its base class), as the outbox's queries are: the table
the exactly-once behaviour rests on, read and written in batches, on its own screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlite_utils import Database

from sync.common.clock import iso, utcnow
from sync.common.model import Link
from sync.state import batch
from sync.state.codec import dumps, link_of, loads

#: the ``links`` columns a save writes; ``created_at`` last, kept when the row exists.
LINK_COLUMNS = (
    "record_id",
    "key",
    "project_id",
    "project_identifier",
    "project_url",
    "payload_hash",
    "payload",
    "written",
    "backsync",
    "link_state",
    "sf_status",
    "closed_by",
    "pending",
    "kept_psa",
    "mapping",
    "updated_at",
    "created_at",
)
_SAVE_LINKS = batch.upsert_clause(["record_id"], LINK_COLUMNS[:-1])


class LinksTable:
    """The links' queries; ``State`` supplies ``db``."""

    db: Database

    def links(self, record_ids: Iterable[str]) -> dict[str, Link]:
        ids = list(record_ids)
        found: dict[str, Link] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db["links"].rows_where(f"record_id in ({marks})", chunk):
                found[row["record_id"]] = link_of(row)
        return found

    def all_links(self) -> Iterator[Link]:
        for row in self.db["links"].rows_where(order_by="record_id"):
            yield link_of(row)

    def link_ids(self) -> list[str]:
        return [
            row["record_id"]
            for row in self.db["links"].rows_where(select="record_id", order_by="record_id")
        ]

    def link_count(self) -> int:
        return self.db["links"].count

    def save_link(self, link: Link) -> None:
        """Insert or replace a link; call inside ``transaction()``."""
        self.save_links([link])

    def save_links(self, links: Iterable[Link]) -> None:
        """Insert or replace links in one statement (a batch's, a collection call's); call inside
        ``transaction()``. A replaced link keeps its ``created_at``."""
        now = iso(utcnow())
        batch.insert(
            self.db,
            "links",
            LINK_COLUMNS,
            (
                (
                    link.record_id,
                    link.key,
                    link.project_id,
                    link.project_identifier,
                    link.project_url,
                    link.payload_hash,
                    dumps(link.payload),
                    dumps(link.written),
                    dumps(link.backsync),
                    link.link_state,
                    link.sf_status,
                    link.closed_by,
                    dumps(link.pending),
                    dumps(link.kept_psa),
                    link.mapping,
                    now,
                    now,
                )
                for link in links
            ),
            _SAVE_LINKS,
        )

    def add_written(self, written: dict[str, dict[str, Any]]) -> None:
        """Merge the values Salesforce now holds into each linked deal's ``written`` (a collection
        call's deals: one read and one write of that column alone per chunk); call inside
        ``transaction()``."""
        now = iso(utcnow())
        for chunk in batch.batched(list(written), batch.ROWS):
            marks = ", ".join("?" * len(chunk))
            held = dict(
                self.db.execute(
                    f"SELECT record_id, written FROM links WHERE record_id IN ({marks})", chunk
                ).fetchall()
            )
            merged = [
                (record_id, dumps({**(loads(held[record_id]) or {}), **written[record_id]}))
                for record_id in chunk
                if record_id in held
            ]
            if merged:
                self.db.execute(
                    "UPDATE links SET written = CASE record_id "
                    + " ".join(["WHEN ? THEN ?"] * len(merged))
                    + " END, updated_at = ? "
                    f"WHERE record_id IN ({', '.join('?' * len(merged))})",
                    [v for pair in merged for v in pair]
                    + [now]
                    + [record_id for record_id, _ in merged],
                )

    def mark_mapping(self, record_ids: Iterable[str], fingerprint: str) -> None:
        """Deals re-mapped with ``fingerprint`` to the same values: their snapshot is current."""
        for chunk in batch.batched(record_ids, batch.VARIABLES - 2):
            self.db.execute(
                f"UPDATE links SET mapping = ? WHERE record_id IN ({', '.join('?' * len(chunk))}) "
                "AND (mapping IS NULL OR mapping != ?)",
                [fingerprint, *chunk, fingerprint],
            )

    def drop_link(self, record_id: str) -> None:
        """Forget a deal's project (deleted in the PSA); call inside ``transaction()``."""
        self.db["links"].delete_where("record_id = ?", [record_id])
