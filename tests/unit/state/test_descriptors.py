"""A process out of file descriptors is not "the disk" (issue 20): opening the state file or its
lock then says so, naming descriptors and ``ulimit -n``, and exits 71, not 74."""

from __future__ import annotations

import errno
import os
import resource
from contextlib import contextmanager

import pytest

from sync.common.errors import LocalIOError, SystemLimitError
from sync.state import State
from sync.state.files import translate


@contextmanager
def no_descriptor_left():
    """Every descriptor this process may open is taken (limit lowered, then filled), then freed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    held = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 16, hard))
    try:
        while True:
            try:
                held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError as exc:
                assert exc.errno == errno.EMFILE
                break
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_state_file_opened_with_no_descriptor_left_is_a_system_limit_not_the_disk(tmp_path):
    path = tmp_path / "state.sqlite"
    State.open(path).close()
    with no_descriptor_left(), pytest.raises(SystemLimitError) as caught:
        State.open(path)
    message = str(caught.value)
    assert caught.value.exit_code == 71 and not isinstance(caught.value, LocalIOError)
    assert f"state file {path}: psa-sync has no file descriptor left" in message
    assert "`ulimit -n`" in message and "not the disk" in message and "disk refused" not in message


def test_emfile_and_enfile_are_named_as_descriptors_and_other_errors_stay_the_disks(tmp_path):
    for code in (errno.EMFILE, errno.ENFILE):
        assert isinstance(translate(tmp_path, OSError(code, os.strerror(code))), SystemLimitError)
    assert isinstance(translate(tmp_path, OSError(errno.EIO, "I/O error")), LocalIOError)
