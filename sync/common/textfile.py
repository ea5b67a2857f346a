"""Read a config or mapping file as text, refusing what is not one before it can do harm.

Run as root by cron or systemd, psa-sync may be pointed at anything: a FIFO would block the
daemon's main thread (SIGTERM unanswered until someone writes to it), a device is never a config
(``/dev/zero`` never ends), a log given by mistake is megabytes. Each refusal is one problem
``file:line: (file): message``, said like every other problem of the file.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from sync.common.errors import ConfigError

#: a config or mapping is a few kilobytes; /dev/zero or a log given by mistake is not
MAX_BYTES = 1 << 20


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of ``path``; ``what`` ("config", "mapping") names it in problems.

    Raises:
        FileNotFoundError: there is no such file (each caller says where it looked).
        ConfigError: the file cannot be read (a directory, permissions), is not a regular file, is
            larger than a config or mapping can be, or is not UTF-8.
    """
    try:
        data = _read_regular(Path(path), what)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(
            f"{path}:1: (file): cannot read the {what}: {exc.strerror or exc}"
        ) from None
    if len(data) > MAX_BYTES:
        raise ConfigError(
            f"{path}:1: (file): the {what} is larger than 1 MiB; is it the right file?"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}:{line}: (file): the {what} is not UTF-8 text (byte 0x{data[exc.start]:02x}); "
            "save it as UTF-8"
        ) from None


def _read_regular(path: Path, what: str) -> bytes:
    """The first bytes of ``path``, a regular file, opened without blocking and checked before it
    is read (see the module's docstring). A symlink is followed."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not stat.S_ISREG(mode):
            kind = (
                "a FIFO"
                if stat.S_ISFIFO(mode)
                else "a device"
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "not a regular file"
            )
            raise ConfigError(
                f"{path}:1: (file): the {what} is {kind}, not a regular file; point it at a file"
            )
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as stream:
            fd = -1
            return stream.read(MAX_BYTES + 1)
    finally:
        if fd >= 0:
            os.close(fd)
