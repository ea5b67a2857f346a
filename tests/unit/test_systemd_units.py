"""The systemd units in scripts/ pass `systemd-analyze verify`, and say what the README promises.

`systemd-analyze` comes with Debian's `systemd` package; when it is missing the test installs it
(as root, through apt-get) and skips, saying why, only where that cannot be done.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "deploy"
UNITS = ("psa-sync-daemon.service", "psa-sync.service", "psa-sync.timer")
INSTALLED = (
    "/opt/psa-sync/.venv/bin/psa-sync"  # where the units expect psa-sync; absent on a test machine
)


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(
            "systemd-analyze is not installed and cannot be here (no root or no apt-get): "
            "install Debian's `systemd` package to verify the units"
        )
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "systemd"]
    for args in (["apt-get", "update", "-qq"], install):
        done = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if done.returncode != 0:
            pytest.skip(
                f"systemd-analyze is not installed and `{' '.join(args)}` failed: "
                f"{done.stderr[-500:]}"
            )
    return shutil.which("systemd-analyze") or pytest.skip(
        "the systemd package brought no systemd-analyze"
    )


@pytest.mark.subprocess
def test_every_unit_passes_systemd_analyze_verify(tmp_path):
    analyze = systemd_analyze()
    stub = (
        tmp_path / "psa-sync"
    )  # verify checks that ExecStart= exists: stand in for the installed CLI
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    for name in UNITS:
        text = (SCRIPTS / name).read_text()
        (tmp_path / name).write_text(text.replace(INSTALLED, str(stub)))
    done = subprocess.run(
        [analyze, "verify", "--man=no", *(str(tmp_path / n) for n in UNITS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(SCRIPTS / name)
    return parser


def test_the_daemon_unit_restarts_on_failure_and_is_hardened():
    service = unit("psa-sync-daemon.service")["Service"]
    assert service["Type"] == "simple" and service["ExecStart"].endswith("psa-sync daemon")
    assert service["Restart"] == "on-failure" and service["RestartPreventExitStatus"] == "2 5"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ReadWritePaths": "/var/lib/psa-sync",
    }.items():
        assert service[key] == value, key


def test_the_timer_service_takes_resumable_exits_as_success():
    service = unit("psa-sync.service")["Service"]
    assert set(service["SuccessExitStatus"].split()) == {"3", "4", "75"}
