"""The emulator as a standalone server: ``psa-sync emulator`` or ``python -m sync.emulator``.

It prints what a client needs to connect — URL, the Pub/Sub API's address, CA file, org Id, the
connected app's credentials, the JWT key file and the control API's admin token. These are the
emulator's own throwaway credentials for a local test server, made when its state was created.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from sync.emulator.emulator import Emulator


def serve(
    port: int = 8443,
    seed: str | int | None = None,
    state_file: str | Path | None = None,
    org_id: str | None = None,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
    pubsub_port: int = 0,
) -> None:
    """Run until SIGINT/SIGTERM (or until ``stop`` is set, for tests).

    ``seed`` is ``"demo"`` for the demo book or a number of deals; it is applied only to an org
    with no deals yet, so restarting on the same state file does not seed twice.
    """
    stop = stop or threading.Event()
    emu = Emulator(org_id=org_id, state_file=state_file, port=port, pubsub_port=pubsub_port)
    with emu:
        if seed is not None and not emu.store.count(emu.schema.object("Opportunity")):
            if str(seed) == "demo":
                emu.seed_demo()
            else:
                emu.seed(int(seed))
        print(describe(emu), flush=True)
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: stop.set())
        if ready is not None:
            ready.set()
        stop.wait()


def describe(emu: Emulator) -> str:
    rows = [
        ("URL", emu.url),
        ("Token URL", emu.token_url),
        ("Pub/Sub API (gRPC, TLS)", emu.pubsub_endpoint),
        ("CA file", str(emu.ca_file)),
        ("Org Id", emu.org_id),
        ("Username", emu.username),
        ("Password (password grant)", emu.password),
        ("Client id", emu.client_id),
        ("Client secret", emu.client_secret),
        ("JWT private key file", str(emu.private_key_file)),
        ("Admin token (/__emulator/...)", emu.admin_token),
        ("State", str(emu.state_file) if emu.state_file else "in memory (lost on exit)"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = ["Salesforce emulator running (local test server; these credentials are its own):"]
    lines += [f"  {name.ljust(width)}  {value}" for name, value in rows]
    lines.append("Stop with Ctrl-C.")
    return "\n".join(lines)
