"""The state file: one SQLite database (0600, it holds deal payloads) that makes runs resumable.

Tables: ``meta``; ``watermarks`` (where each stream's next read starts); ``links`` (each deal's
project and the snapshot of what was last pushed); ``intents`` (PSA writes in flight); ``outbox``
(pending Salesforce writes); ``quarantine``; ``runs`` and ``events`` (the trail behind ``explain``).

Commit points, each one ``State.transaction()``: intents before the PSA is asked; each PSA write's
link, snapshot, queued write-back and intent removal together; a page's quarantine and repairs with
its watermark, after its rows. A crash leaves the old state or the new one, never half of each.

This package is the one door to the file: no module outside it runs SQL or imports sqlite3 or
sqlite-utils (``reads`` holds the reporting queries; ``DatabaseError`` is SQLite's error, to catch).
"""

from sqlite3 import (
    Error as DatabaseError,
)  # what SQLite raises; ``files.translate`` words it for a person

from sync.state.store import State

__all__ = ["DatabaseError", "State"]
