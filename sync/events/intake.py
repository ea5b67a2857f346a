"""From what the listeners queued to what a cycle does: which deals to re-read, whether to poll now,
which replay id the cycle commits. Pure, so every rule is tested without a stream.

- CREATE, UPDATE, DELETE, UNDELETE and GAP_* of a deal name its ids: re-read them (``Id IN``,
  queryAll).
- A line item's event names line items: their deals are looked up (one query) and re-read.
- GAP_OVERFLOW or a wildcard id (``006*``): the ids are unknown, so a poll window runs now.
- A line item DELETE: the deleted row cannot be read back to find its deal, so a poll window runs
  now.
- An event that does not fit its schema: a poll window now (its ids cannot be read).
- **Echoes** are skipped: an UPDATE whose ``changeOrigin`` names psa-sync's client (every psa-sync
  write to Salesforce carries ``Sforce-Call-Options: client=psa-sync``) and whose changed fields are
  all fields psa-sync writes (link fields, back-sync fields) or Salesforce's bookkeeping. A flow or
  trigger that changes another field in the same transaction makes it no echo: that event is
  re-read, since skipping it would miss a change psa-sync did not make. An echo without a
  changed-fields bitmap is re-read too (a re-read is a no-op by payload hash; a wrong skip is a lost
  change).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sync.events.listener import Down, Keepalive, Notice, Unreadable, Up

CLIENT = "psa-sync"  # the Sforce-Call-Options client name of psa-sync's writes
BOOKKEEPING = frozenset(
    {
        "lastmodifieddate",
        "lastmodifiedbyid",
        "systemmodstamp",
        "lastreferenceddate",
        "lastvieweddate",
    }
)


@dataclass
class Work:
    """What one drain asks of the cycle; ``merge`` keeps work a failed cycle left for the next."""

    deal_ids: set[str] = field(default_factory=set)
    line_item_ids: set[str] = field(default_factory=set)
    poll_now: list[str] = field(
        default_factory=list
    )  # why (fallbacks): overflow, wildcard, replay_too_old …
    replay: dict[str, bytes] = field(default_factory=dict)  # topic → the last replay id drained
    events: int = 0
    echoes: int = 0
    lags: list[float] = field(default_factory=list)  # seconds, receipt − commitTimestamp
    ups: list[Up] = field(default_factory=list)
    downs: list[Down] = field(default_factory=list)

    @property
    def needs_cycle(self) -> bool:
        return bool(self.deal_ids or self.line_item_ids or self.poll_now)

    def merge(self, later: Work) -> Work:
        return Work(
            self.deal_ids | later.deal_ids,
            self.line_item_ids | later.line_item_ids,
            self.poll_now + later.poll_now,
            {**self.replay, **later.replay},
            later.events,
            later.echoes,
            later.lags,
            later.ups,
            later.downs,
        )


def take(items: Iterable, *, line_items_topic: str | None, written: frozenset[str]) -> Work:
    """``written``: the deal fields psa-sync writes, lower case."""
    work = Work()
    for item in items:
        if isinstance(item, Notice):
            _notice(work, item, item.topic == line_items_topic, written)
        elif isinstance(item, Keepalive):
            work.replay[item.topic] = item.replay_id
        elif isinstance(item, Unreadable):
            work.replay[item.topic] = item.replay_id
            work.poll_now.append("unreadable")
        elif isinstance(item, Up):
            work.ups.append(item)
            if (
                item.latest
            ):  # no replay position (first start, too old, another org): the poll covers the gap
                work.poll_now.append("subscribed_latest")
        elif isinstance(item, Down):
            work.downs.append(item)
    return work


def _notice(work: Work, notice: Notice, line_item: bool, written: frozenset[str]) -> None:
    header = notice.header
    work.events += 1
    work.replay[notice.topic] = notice.replay_id
    if header.commit_ms:
        work.lags.append(max(0.0, notice.received - header.commit_ms / 1000))
    if header.wildcard:
        work.poll_now.append("overflow" if header.change_type == "GAP_OVERFLOW" else "wildcard")
    elif line_item and header.change_type in ("DELETE", "GAP_DELETE"):
        work.poll_now.append("line_item_delete")
    elif is_echo(header, written):
        work.echoes += 1
    elif line_item:
        work.line_item_ids.update(header.record_ids)
    else:
        work.deal_ids.update(header.record_ids)


def is_echo(header, written: frozenset[str]) -> bool:
    if header.change_type != "UPDATE" or header.changed_fields is None:
        return False
    if f"client={CLIENT}" not in (part.strip() for part in header.change_origin.split(";")):
        return False
    return all(
        name.lower() in written or name.lower() in BOOKKEEPING for name in header.changed_fields
    )
