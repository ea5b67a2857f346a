"""A faithful local Salesforce REST emulator (HTTPS on 127.0.0.1, SQLite behind it).

Used by the tests, the demo and the benchmarks; the pipeline never imports it. See
``Emulator`` for the in-process API and ``serve`` for the standalone server.
"""

from sync.emulator.emulator import Emulator
from sync.emulator.standalone import serve

__all__ = ["Emulator", "serve"]
