"""The state file and its disk: every failure is one message naming the file, a documented exit
code, no traceback, nothing left half-done — and the next run, once the disk is fine, finishes the
work."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess

import pytest

from tests.fixtures.exactly_once_support import Book, won_deals
from tests.fixtures.redmine import in_ci

pytestmark = pytest.mark.integration


def no_traceback(done: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in done.stdout + done.stderr, done.stderr


@pytest.fixture
def small_disk(tmp_path):
    """A real, tiny filesystem (tmpfs) for the state dir; needs root, as CI and `make test` have."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        why = f"cannot mount a tmpfs here: {done.stderr.decode().strip()}"
        if in_ci(os.environ):  # three README rows would pass having tested nothing
            pytest.fail(f"CI={os.environ['CI']} and {why}", pytrace=False)
        pytest.skip(why)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def remount(mount, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mount)], check=True)


def test_a_file_that_is_not_a_state_file_is_named_and_exits_2(harness, emulator, redmine):
    harness.state.parent.mkdir(parents=True)
    harness.state.write_bytes(b"this is somebody's spreadsheet, not a database\n" * 100)
    harness.state.chmod(0o644)
    before = (hashlib.sha256(harness.state.read_bytes()).hexdigest(), harness.state.stat().st_mode)
    for command in (("run",), ("status",), ("plan",)):
        done = harness.cli(*command)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert str(harness.state) in done.stderr and "not a psa-sync state file" in done.stderr
        assert "move it away" in done.stderr.lower()
        no_traceback(done)
        # untouched: the same bytes, the same mode, and nothing of SQLite's beside it
        assert (
            hashlib.sha256(harness.state.read_bytes()).hexdigest(),
            harness.state.stat().st_mode,
        ) == before
        beside = {p.name for p in harness.state.parent.iterdir()} - {harness.state.name + ".lock"}
        assert beside == {harness.state.name}, beside


def test_an_empty_state_file_is_no_state_yet(harness, emulator, redmine):
    harness.state.parent.mkdir(parents=True)
    harness.state.touch()
    status = harness.cli("status")
    assert status.returncode == 0, status.stderr
    no_traceback(status)
    Book(emulator, random.Random(1)).seed(won=2)
    harness.run()
    assert harness.status()["counts"]["links"] == 2


def test_a_path_with_hash_and_question_mark_is_one_file_and_looser_modes_are_tightened(
    harness, emulator, redmine
):
    harness.state_path = "state #1/psa-sync?.sqlite"
    Book(emulator, random.Random(2)).seed(won=1)
    harness.run()
    harness.state.chmod(0o644)
    status = harness.status()
    assert status["runs"][0]["status"] == "ok" and status["counts"]["links"] == 1
    assert (
        sorted(
            p.name
            for p in harness.state.parent.iterdir()
            if not p.name.startswith("psa-sync?.sqlite")
        )
        == []
    )
    harness.run()
    assert harness.state.stat().st_mode & 0o777 == 0o600


def test_a_read_only_disk_exits_74_and_status_still_reads_it(
    harness, emulator, redmine, small_disk
):
    harness.state_path = str(small_disk / "psa-sync.sqlite")
    Book(emulator, random.Random(3)).seed(won=2)
    harness.run()
    remount(small_disk, "ro")
    try:
        done = harness.cli("run")
        assert done.returncode == 74, done.stdout + done.stderr
        assert "read-only" in done.stderr and str(harness.state) in done.stderr
        no_traceback(done)
        status = harness.status()  # read-only-safe, even for a WAL database
        # what the run committed, read back: "no state yet" also exits 0, with no runs and no links
        assert status["counts"]["links"] == 2 and status["runs"][0]["status"] == "ok", status
    finally:
        remount(small_disk, "rw")


def test_a_state_directory_that_cannot_be_made_exits_74_and_leaves_nothing(
    harness, emulator, redmine, small_disk
):
    remount(small_disk, "ro")
    try:
        harness.state_path = str(small_disk / "state" / "psa-sync.sqlite")
        done = harness.cli("run")
        assert done.returncode == 74, done.stdout + done.stderr
        assert "read-only" in done.stderr and str(small_disk / "state") in done.stderr
        no_traceback(done)
        assert list(small_disk.iterdir()) == []
    finally:
        remount(small_disk, "rw")


def test_a_new_state_file_the_disk_has_no_room_for_exits_74_and_leaves_no_empty_file(
    harness, emulator, redmine, small_disk
):
    # Room for the lock and its holder mark (one page), none for SQLite's first page: the state file
    # is made 0600 (an inode needs no page), then SQLite fails, and the empty file must go again (an
    # empty file would read as a state that lost everything).
    harness.state_path = str(small_disk / "psa-sync.sqlite")
    disk = os.statvfs(small_disk)
    (small_disk / "filler").write_bytes(b"\0" * (disk.f_bavail - 1) * disk.f_bsize)
    done = harness.cli("run")
    assert done.returncode == 74, done.stdout + done.stderr
    assert "disk is full" in done.stderr and str(harness.state) in done.stderr
    no_traceback(done)
    assert not harness.state.exists(), sorted(p.name for p in small_disk.iterdir())


def test_a_disk_full_mid_run_reports_the_first_error_and_the_next_run_finishes_the_work(
    harness, emulator, redmine, small_disk
):
    harness.state_path = str(small_disk / "psa-sync.sqlite")
    book = Book(emulator, random.Random(4))
    book.seed(won=2)
    harness.run()
    used = sum(path.stat().st_size for path in small_disk.iterdir())
    remount(small_disk, f"size={used // 1024 + 96}k")  # room for a few deals, not for the next 120
    book.seed(won=120)

    done = harness.cli("run")

    assert done.returncode == 74, done.stdout + done.stderr
    assert "disk is full" in done.stdout + done.stderr
    no_traceback(done)
    remount(small_disk, "size=16m")
    harness.run()
    identifiers = [p["identifier"] for p in redmine.projects()]
    assert sorted(identifiers) == sorted("sf-" + deal.lower() for deal in won_deals(emulator))
