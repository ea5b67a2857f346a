"""Run as root, psa-sync touches only regular files of its own: a device, FIFO, socket or directory
named as the state file, its lock, -wal or -shm, or the mapping is refused with exit 2 before
anything is opened, tightened or written; another app's SQLite database is refused untouched."""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sync.common.errors import StateFileError
from sync.state import State

HANG_GUARD_S = 120  # a FIFO that is opened blocks for ever: the child is stopped, not timed


def _fifo(path: Path) -> Path:
    os.mkfifo(path, 0o644)
    return path


def _socket(path: Path) -> Path:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()  # the socket file stays
    os.chmod(path, 0o644)
    return path


def _directory(path: Path) -> Path:
    path.mkdir(mode=0o755)
    return path


def _char_device(path: Path) -> Path:
    """A copy of /dev/null's device node inside tmp_path: the real one is never touched."""
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    null = os.stat("/dev/null")
    os.mknod(path, stat.S_IFCHR | 0o666, null.st_rdev)
    return path


def _symlink_to_fifo(path: Path) -> Path:
    target = _fifo(path.with_name(path.name + ".target"))
    path.symlink_to(target)
    return path


MAKERS = {
    "a character device": _char_device,
    "a FIFO": _fifo,
    "a socket": _socket,
    "a directory": _directory,
    "a symlink to a FIFO": _symlink_to_fifo,
}


def _identity(path: Path) -> tuple:
    st = os.stat(path)
    return stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_rdev


def _open_in_a_child(path: Path, how: str = "open") -> subprocess.CompletedProcess:
    """``State.open`` (or ``open_readonly``, as ``status``) in a child process: on a FIFO the old
    code blocked for ever."""
    code = (
        "import sys; from pathlib import Path; from sync.state import State; "
        "from sync.common.errors import SyncError\n"
        f"try:\n    State.{how}(Path(sys.argv[1])).close()\n"
        "except SyncError as exc:\n    print(exc, file=sys.stderr); sys.exit(exc.exit_code)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
    )


@pytest.mark.parametrize("kind", MAKERS)
def test_a_state_path_that_is_not_a_regular_file_is_refused_with_exit_2_and_left_as_it_was(
    tmp_path, kind
):
    path = MAKERS[kind](tmp_path / "psa-sync.sqlite")
    before = _identity(path)
    done = _open_in_a_child(path)
    assert done.returncode == 2, done.stderr
    assert "not a regular file" in done.stderr and str(path) in done.stderr
    assert _identity(path) == before  # /dev/null's copy kept 0666: nothing chmodded
    made = {path.name} | ({path.name + ".target"} if kind == "a symlink to a FIFO" else set())
    assert {p.name for p in tmp_path.iterdir()} == made  # no -wal, -shm or backup beside it


@pytest.mark.parametrize("suffix", ["-wal", "-shm"])
@pytest.mark.parametrize("kind", ["a character device", "a FIFO"])
def test_a_wal_or_shm_beside_the_state_that_is_not_a_regular_file_is_refused_untouched(
    tmp_path, suffix, kind
):
    state = tmp_path / "psa-sync.sqlite"
    State.open(state).close()
    for leftover in (suffix, "-wal", "-shm"):
        Path(f"{state}{leftover}").unlink(missing_ok=True)
    companion = MAKERS[kind](Path(f"{state}{suffix}"))
    before, data = _identity(companion), state.read_bytes()
    done = _open_in_a_child(state)
    assert done.returncode == 2 and f"{companion} is" in done.stderr, done.stderr
    assert _identity(companion) == before and state.read_bytes() == data
    read = _open_in_a_child(
        state, "open_readonly"
    )  # status refuses it too, rather than block on it
    assert read.returncode == 2 and f"{companion} is" in read.stderr, read.stderr


@pytest.mark.parametrize("which", ["lock", "backfill"])
@pytest.mark.parametrize("kind", ["a character device", "a FIFO", "a directory"])
def test_a_lock_file_that_is_not_a_regular_file_is_refused_with_exit_2_before_it_is_opened(
    tmp_path, which, kind
):
    state = tmp_path / "psa-sync.sqlite"
    lock = tmp_path / "psa-sync.sqlite.lock"
    path = MAKERS[kind](lock if which == "lock" else tmp_path / "psa-sync.sqlite.lock.backfill")
    before = _identity(path)
    code = (
        "import sys; from pathlib import Path; from types import SimpleNamespace\n"
        "from sync.state.lock import run_lock\n"
        "from sync.common.errors import SyncError\n"
        "try:\n"
        "    with run_lock(SimpleNamespace(state=Path(sys.argv[1]), "
        "lock_path=Path(sys.argv[2]))):\n"
        "        sys.exit('the lock was taken')\n"
        "except SyncError as exc:\n    print(exc, file=sys.stderr); sys.exit(exc.exit_code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(state), str(lock)],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
    )
    assert done.returncode == 2 and f"{path} is" in done.stderr, done.stderr
    assert _identity(path) == before and not state.exists()


def _foreign_database(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.execute("INSERT INTO invoices (total) VALUES (12.5)")
    conn.commit()
    conn.close()
    os.chmod(path, 0o644)
    return path


def test_another_applications_sqlite_database_is_refused_with_exit_2_byte_for_byte_untouched(
    tmp_path,
):
    path = _foreign_database(tmp_path / "app.db")
    digest, before = hashlib.sha256(path.read_bytes()).hexdigest(), _identity(path)
    with pytest.raises(StateFileError) as refused:
        State.open(path)
    assert refused.value.exit_code == 2
    assert "not a psa-sync state file" in str(refused.value) and "invoices" in str(refused.value)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest and _identity(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "app.db"
    ]  # no -wal, -shm or backup either


def test_an_empty_file_is_still_made_a_state_file(tmp_path):
    path = tmp_path / "psa-sync.sqlite"
    path.touch(mode=0o600)
    state = State.open(path)
    assert state.meta("anything") is None
    state.close()


def test_the_wal_and_shm_beside_an_open_state_file_are_private(tmp_path):
    path = tmp_path / "psa-sync.sqlite"
    path.touch(mode=0o644)  # made by a person, looser: tightened before SQLite makes its companions
    state = State.open(path)
    try:
        state.set_meta("k", "v")
        modes = {
            name: stat.S_IMODE(os.stat(f"{path}{name}").st_mode) for name in ("", "-wal", "-shm")
        }
    finally:
        state.close()
    assert modes == {"": 0o600, "-wal": 0o600, "-shm": 0o600}


@pytest.mark.parametrize("kind", ["a FIFO", "a character device"])
def test_a_mapping_that_is_a_fifo_or_a_device_is_a_config_error_without_blocking(tmp_path, kind):
    path = MAKERS[kind](tmp_path / "mapping.yaml")
    code = (
        "import sys; from pathlib import Path; from sync.mapping.loader import load_mapping\n"
        "from sync.common.errors import ConfigError\n"
        "try:\n    load_mapping(Path(sys.argv[1]))\n"
        "except ConfigError as exc:\n    print(exc, file=sys.stderr); sys.exit(exc.exit_code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
    )
    assert done.returncode == 2, done.stderr
    assert (
        f"{path}:1: (file): the mapping is" in done.stderr and "not a regular file" in done.stderr
    )
