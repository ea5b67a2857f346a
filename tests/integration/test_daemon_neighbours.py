"""`psa-sync daemon` beside a hostile or broken neighbour (issue 20): idle connections to /metrics
cannot exhaust its file descriptors; a second daemon on the same state file and a metrics port in
use are refused with their own exit code and message; SIGHUP moves /metrics to the new port and
state file. Loopback only; no timing bound is asserted (``wait_for`` fails only when nothing
happens)."""

from __future__ import annotations

import random
import signal
import socket
import subprocess

import pytest
import requests
from filelock import FileLock, Timeout
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.daemon_support import DaemonProcess, free_port, linked, runs, wait_for
from tests.fixtures.exactly_once_support import Book
from tests.fixtures.sync import CLI

pytestmark = [pytest.mark.integration, pytest.mark.subprocess]  # daemons: signals, a second process

OPEN_FILES = 96  # the daemon's `ulimit -n` here: 200 idle connections are twice what it may hold
IDLE = 200


def metrics_of(port: int) -> dict[str, float]:
    answer = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
    assert answer.status_code == 200, answer.text
    return {
        s.name: s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
        if not s.labels
    }


def test_idle_connections_to_metrics_do_not_exhaust_the_daemons_descriptors(
    harness, emulator, redmine
):
    Book(emulator, random.Random(7)).seed(won=2)
    port = free_port()
    harness.write_config(schedule={"interval": "1s"}, metrics={"port": port})
    daemon = DaemonProcess.start(harness, open_files=OPEN_FILES)
    conns: list[socket.socket] = []
    try:
        wait_for(lambda: len(linked(harness)) == 2, 60, why="the first cycle links the 2 won deals")
        for _ in range(IDLE):  # a broken neighbour: connects and says nothing
            conns.append(socket.create_connection(("127.0.0.1", port), timeout=30))
        before = len(runs(harness))
        emulator.update("Opportunity", sorted(linked(harness))[0], Amount=4242)
        wait_for(
            lambda: len([r for r in runs(harness)[before:] if r["status"] != "running"]) >= 3,
            60,
            why="three cycles end while the idle connections are open",
        )
        ended = [r for r in runs(harness)[before:] if r["status"] != "running"]
        assert all(r["status"] == "ok" for r in ended), [
            (r["exit_code"], r["error"]) for r in ended
        ]
        assert (
            sum(r["counts"].get("updated", 0) for r in ended) == 1
        )  # the change was pushed meanwhile
    finally:
        for conn in conns:
            conn.close()
    try:
        assert metrics_of(port)["psa_sync_links"] == 2  # /metrics answers once they are closed
        assert daemon.proc.poll() is None, daemon.text()[-2000:]
        code, _ = daemon.stop(timeout=30)
        assert code == 0, daemon.text()[-2000:]
    finally:
        daemon.kill()


def test_a_second_daemon_on_the_same_state_file_exits_75_naming_the_lock(
    harness, emulator, redmine
):
    harness.write_config(schedule={"interval": "1s"}, metrics={"port": free_port()})
    first = DaemonProcess.start(harness)
    try:
        wait_for(lambda: runs(harness), 60, why="the first daemon runs a cycle")
        second = subprocess.run(
            [*CLI, "--config", str(harness.config), "daemon"],
            env=harness.env(),
            cwd=harness.workdir,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert second.returncode == 75, second.stderr
        assert f"another psa-sync daemon serves state file {harness.state}" in second.stderr
        assert f"{harness.state}.daemon.lock" in second.stderr and "Traceback" not in second.stderr
        assert first.proc.poll() is None  # the first goes on
    finally:
        first.kill()


def test_a_metrics_port_in_use_exits_2_naming_the_address(harness, emulator, redmine):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        harness.write_config(metrics={"port": port})
        result = harness.cli("daemon", timeout=120)
    assert result.returncode == 2, result.stderr
    assert (
        f"metrics.port: cannot serve /metrics on 127.0.0.1:{port}: another process listens there"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not runs(harness)  # refused before any cycle


def test_sighup_moves_metrics_to_the_new_port_and_state_file(harness, emulator, redmine, tmp_path):
    Book(emulator, random.Random(8)).seed(won=1)
    old_port, new_port = free_port(), free_port()
    harness.write_config(schedule={"interval": "1s"}, metrics={"port": old_port})
    daemon = DaemonProcess.start(harness)
    try:
        wait_for(lambda: len(linked(harness)) == 1, 60, why="the first cycle links the won deal")
        old_state = harness.state
        harness.state_path = "state/moved.sqlite"
        harness.write_config(schedule={"interval": "1s"}, metrics={"port": new_port})
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: "now on" in daemon.text(), 60, why="the reload moves /metrics")
        wait_for(
            lambda: len(linked(harness)) == 1,
            60,
            why="a cycle on the new state file adopts the project",
        )
        served = metrics_of(new_port)
        assert served["psa_sync_links"] == 1
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{old_port}/metrics", timeout=30)
        assert f"state file {harness.state}" in daemon.text()
        FileLock(str(old_state) + ".daemon.lock", timeout=0).acquire()  # let go of
        with pytest.raises(Timeout):
            FileLock(str(harness.state) + ".daemon.lock", timeout=0).acquire()  # held by the daemon
        code, _ = daemon.stop(timeout=30)
        assert code == 0, daemon.text()[-2000:]
    finally:
        daemon.kill()
