"""The Pub/Sub API subset the emulator serves: Change Data Capture for Opportunity and its line
items.

``capture`` turns the record-write path's transactions into changes, ``publisher`` into Avro
change events (``avro``) on the ``bus`` (replay ids, retention, allocation), ``service`` and
``stream`` serve them over gRPC, ``server`` owns the lot, ``control`` is its part of the control
API. See docs/architecture.md §8.1.
"""

from sync.emulator.pubsub.server import PubSub

__all__ = ["PubSub"]
