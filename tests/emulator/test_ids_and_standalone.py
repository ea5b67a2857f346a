"""Record Ids, and the emulator as a standalone server (state file, printed credentials)."""

from __future__ import annotations

import re
import threading

import pytest
import requests

from sync.common.ids import to18
from sync.emulator import Emulator, serve
from sync.emulator.ids import IdFactory, normalize
from tests.fixtures.emulator import sf_client, trusting_session


def test_ids_have_the_key_prefix_and_a_correct_case_safe_suffix():
    factory = IdFactory("Ab3dE9")
    for record_id in factory.batch("006", 5000)[::97]:
        assert record_id.startswith("006Ab3dE9") and to18(record_id[:15]) == record_id


def test_batch_minting_equals_one_at_a_time_across_block_edges():
    assert IdFactory("xY12zz", start=3830).batch("001", 30) == [
        IdFactory("xY12zz", start=3830 + i).new("001") for i in range(30)
    ]


def test_fifteen_character_and_any_case_eighteen_character_ids_normalise():
    canonical = to18("001Ab3dE9000001")
    assert normalize(canonical[:15]) == canonical
    assert normalize(canonical.lower()) == canonical == normalize(canonical.upper())
    assert normalize(canonical[:15].lower()) != canonical  # a 15-character Id is case-sensitive


@pytest.mark.parametrize("bad", ["", "006", "006!!!!!!!!!!!!", "006000000000000AA", 6])
def test_malformed_ids_are_refused(bad):
    assert normalize(bad) is None


def test_standalone_server_keeps_its_org_in_a_state_file(tmp_path, capsys):
    state = tmp_path / "org.sqlite"
    ready, stop = threading.Event(), threading.Event()
    runner = threading.Thread(
        target=serve,
        kwargs={
            "port": 0,
            "seed": "demo",
            "state_file": state,
            "org_id": "00D000000000042",
            "ready": ready,
            "stop": stop,
        },
    )
    runner.start()
    assert ready.wait(30)
    printed = capsys.readouterr().out
    assert re.search(r"Pub/Sub API \(gRPC, TLS\)\s+127\.0\.0\.1:\d+", printed)
    for label in (
        "URL",
        "CA file",
        "Org Id",
        "Client id",
        "Client secret",
        "JWT private key file",
        "Admin token",
    ):
        assert label in printed
    stop.set()
    runner.join(10)
    with Emulator(state_file=state) as again:  # same org, same credentials, same deals
        assert again.org_id == to18("00D000000000042")
        assert again.client_secret in printed and again.admin_token in printed
        sf = sf_client(again)
        assert sf.query("SELECT COUNT() FROM Opportunity WHERE IsWon = true")["totalSize"] == 7
        stamps = [
            r["SystemModstamp"] for r in again.query("SELECT SystemModstamp FROM Opportunity")
        ]
        deal = again.ids("Opportunity")[0]
        again.update("Opportunity", deal, PSA_Status__c="x")
        assert again.get("Opportunity", deal)["SystemModstamp"] > max(
            stamps
        )  # the clock survived the restart


def test_a_session_without_the_ca_is_refused_even_with_env_bundles(emulator, monkeypatch):
    """REQUESTS_CA_BUNDLE must not decide trust: the fixtures' session uses the emulator CA."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/bundle.pem")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/nonexistent/bundle.pem")
    assert trusting_session(emulator).get(f"{emulator.url}/services/data").status_code == 200
    plain = requests.Session()
    plain.trust_env = False
    with pytest.raises(requests.exceptions.SSLError):
        plain.get(f"{emulator.url}/services/data")


def test_versions_list(emulator):
    versions = trusting_session(emulator).get(f"{emulator.url}/services/data/").json()
    assert versions[-1] == {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"}
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions
    unknown = trusting_session(emulator).get(f"{emulator.url}/services/data/v99.0/limits")
    assert unknown.status_code in (401, 404)


def test_the_org_state_file_holding_the_client_secret_and_password_is_private(tmp_path):
    import os
    import stat

    path = tmp_path / "org.sqlite"
    emu = Emulator(state_file=path)
    try:
        modes = {
            name: stat.S_IMODE(os.stat(f"{path}{name}").st_mode) for name in ("", "-wal", "-shm")
        }
    finally:
        emu.store.db.close()
    assert modes == {"": 0o600, "-wal": 0o600, "-shm": 0o600}
