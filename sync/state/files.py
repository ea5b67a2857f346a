"""Opening the state file, and what the disk can say about it, in words a person can act on.

Everything that can go wrong below SQLite (a file that is not a database, a full or read-only disk,
a directory we may not write) becomes one of these errors naming the file: :class:`StateFileError`
(exit 2: the file itself is wrong), :class:`LocalIOError` (exit 74: the disk refused) or
:class:`StateBusyError` (exit 75: another process holds its write lock). A process out of file
descriptors is no disk fault: :class:`SystemLimitError` (exit 71) says so. Every commit point is a
transaction, so a write the disk refused left the old state whole: the next run, once there is space
again, finishes the work.

Who writes (architecture §4): :func:`open_database` is called, and the state file written, only
under the run lock (``sync.state.lock.run_lock``), so no two psa-sync writers ever meet on SQLite's
write lock; WAL lets the read-only commands read beside them. "database is locked" can only come
from a process outside that rule, and says so (exit 75), never "the disk refused".
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from sync.common.errors import LocalIOError, StateBusyError, StateFileError, SystemLimitError
from sync.state.migrations import migrations

MODE = 0o600  # the file holds payloads of customer deals
#: How long a statement waits for SQLite's write lock. Every writer holds the run lock, so in
#: psa-sync only a checkpoint or a reader's WAL recovery (milliseconds) can make it wait at all.
BUSY_TIMEOUT_MS = 5000
#: SQLITE_BUSY and SQLITE_LOCKED (the primary codes; extended codes carry them in the low byte).
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
#: SQLite's words for "this file is not ours to read" (corrupt, encrypted, another format).
_NOT_A_DATABASE = ("file is not a database", "database disk image is malformed")


def open_database(path: Path) -> Database:
    """The state file for writing: created 0600 if new, tightened to 0600 if looser, migrated.

    Call it under the run lock only: creating, switching to WAL and migrating are writes."""
    refuse_special(path, *companions(path))
    created = False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            created = _create(path)
        if not created:
            _refuse_foreign(path)
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                path.chmod(MODE)
        db = Database(path)
        db.execute(
            f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}"
        )  # first: journal_mode=wal needs a lock too
        db.enable_wal()
        pending = migrations.pending(db)
        if pending:
            if not created and "meta" in db.table_names():
                backup(db, path, pending[0].name)
            with write_transaction(
                db
            ):  # one IMMEDIATE transaction: never a deferred read-then-write
                migrations.apply(db)
        return db
    except (OSError, sqlite3.Error) as exc:
        if created and path.exists() and path.stat().st_size == 0:
            # never leave an empty file behind: it would look like a state that lost everything
            path.unlink()
        raise translate(path, exc) from exc


#: What a path that is not a regular file is, in words, by ``stat.S_IFMT``.
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
}


def companions(path: Path) -> tuple[Path, Path]:
    """The files SQLite keeps beside a WAL database: ``-wal`` and ``-shm``."""
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def special_kind(path: Path) -> str | None:
    """What ``path`` is if it exists and is not a regular file (symlinks followed), else None."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return None  # unreadable: the open that follows says so in its own words
    return None if stat.S_ISREG(mode) else _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def refuse_special(*paths: Path) -> None:
    """Exit 2 before anything is touched when one of ``paths`` is a device, FIFO, socket or
    directory: psa-sync runs as root and must never write, tighten or block on a file that is not
    its own."""
    for path in paths:
        kind = special_kind(path)
        if kind is not None:
            raise StateFileError(
                f"{path} is {kind}, not a regular file; "
                "psa-sync only ever creates and writes regular files beside `state:`. "
                "Point `state:` at a file in a directory of its own. Nothing was touched"
            )


def _refuse_foreign(path: Path) -> None:
    """Exit 2, the file untouched, when ``path`` is an SQLite database of another application:
    tables, none of them psa-sync's ``meta``. An empty file, or one whose first open stopped before
    its first migration, is ours to go on with."""
    if path.stat().st_size == 0:
        return
    conn = _connect_readonly(path)
    try:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    finally:
        conn.close()
    if "meta" not in tables and tables - {migrations.migrations_table}:
        raise StateFileError(
            f"{path} is an SQLite database but not a psa-sync state file (no `meta` table; "
            f"it holds {', '.join(sorted(tables)[:5])}{' …' if len(tables) > 5 else ''}); "
            "point `state:` at a new file. Nothing was touched"
        )


def _create(path: Path) -> bool:
    """Create the file 0600 before SQLite does, so no other user can ever read deal payloads; False
    when another process made it first (then it is theirs to have set up)."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, MODE))
    except FileExistsError:
        return False
    return True


@contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """One commit point that takes SQLite's write lock when it begins (``BEGIN IMMEDIATE``); nested,
    a savepoint.

    sqlite-utils' ``atomic()`` begins a deferred transaction: one that reads first and writes later
    fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT, no busy timeout) when another
    process committed in between, e.g. a backfill recording its end while a scheduled run holds the
    run lock. Taken at the start, the write lock is waited for (``busy_timeout``) instead.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.conn.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.conn.rollback()
        raise


def backup(db: Database, path: Path, before: str) -> Path:
    """A whole copy of the state file (SQLite's online backup API: consistent even mid-write), made
    0600 before migration ``before`` changes the schema; a migration that goes wrong can be undone
    by hand."""
    target = path.with_name(f"{path.name}.before-{before}.bak")
    refuse_special(target)
    if target.exists():
        target.unlink()
    os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, MODE))
    copy = sqlite3.connect(target)
    try:
        db.conn.backup(copy)
    finally:
        copy.close()
    return target


def open_readonly_database(path: Path) -> Database | None:
    """For `plan`, `status` and `explain`: never creates, migrates or writes anything, even on a
    read-only disk. ``None`` when there is no state yet (no file, or an empty one)."""
    refuse_special(path, *companions(path))
    try:
        if not path.exists() or path.stat().st_size == 0:
            return None
        db = Database(_connect_readonly(path))
        if "meta" not in db.table_names():
            raise StateFileError(
                f"{path} is an SQLite database but not a psa-sync state file (no `meta` table); "
                "point `state:` at the right file"
            )
        return db
    except (OSError, sqlite3.Error) as exc:
        raise translate(path, exc) from exc


#: the errnos of "no file descriptor left": the process's limit (EMFILE) or the system's (ENFILE)
_NO_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)


def out_of_descriptors(exc: BaseException) -> bool:
    """Whether ``exc`` is the process running out of file descriptors. SQLite says only "unable to
    open database file", so then one descriptor is asked for to see whether any is left."""
    if isinstance(exc, OSError):
        return exc.errno in _NO_DESCRIPTORS
    if not (isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc)):
        return False
    try:
        os.close(os.open(os.devnull, os.O_RDONLY))
    except OSError as probe:
        return probe.errno in _NO_DESCRIPTORS
    return False


def descriptors_error(what: str, exc: BaseException) -> SystemLimitError:
    """The message for :func:`out_of_descriptors`: how many are open, the limit, what to do."""
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        used = str(len(os.listdir("/proc/self/fd")))
    except OSError:
        used = "?"
    return SystemLimitError(
        f"{what}: psa-sync has no file descriptor left ({exc}; {used} open, limit {soft}). "
        "This is not the disk: raise the limit (`ulimit -n`, systemd's LimitNOFILE) "
        "or find what holds them (too many connections to /metrics?). "
        "Nothing was lost: the next run finishes the work"
    )


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that cannot write, create or migrate anything."""
    uri = path.resolve().as_uri()  # percent-encodes '#', '?' and '%' in the path
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.OperationalError as exc:
        if _busy(exc):
            raise
        # A WAL database in a directory we may not write cannot create its -shm file: read the
        # file as it stands instead (a run committing meanwhile is not seen: `status` bears that).
        conn = sqlite3.connect(f"{uri}?immutable=1", uri=True)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    return conn


def translate(
    path: Path, exc: BaseException
) -> StateFileError | LocalIOError | StateBusyError | SystemLimitError:
    """One actionable error for a failure of the state file's disk or format, or a busy file."""
    if out_of_descriptors(exc):
        return descriptors_error(f"state file {path}", exc)
    text = str(exc)
    if _busy(exc):
        return StateBusyError(
            f"state file {path} is busy: another process holds its write lock ({text}). "
            "Every psa-sync writer takes the run lock first, so look for a process that does not "
            "(an sqlite3 shell, a copy of the file's directory served elsewhere). "
            "Nothing was half-written; run again"
        )
    if isinstance(exc, sqlite3.DatabaseError) and any(words in text for words in _NOT_A_DATABASE):
        return StateFileError(
            f"{path} is not a psa-sync state file ({text}). Move it away and run again: "
            "a lost state file doubles nothing, "
            "because every project carries its deal's key and is found and adopted"
        )
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT) or "full" in text:
        what = "the disk is full"
    elif (
        isinstance(exc, OSError)
        and exc.errno == errno.EROFS
        or "readonly" in text
        or "read-only" in text
    ):
        what = "the disk or directory is read-only"
    elif isinstance(exc, PermissionError):
        what = "permission denied"
    else:
        what = "the disk refused"
    return LocalIOError(
        f"state file {path}: {what} ({text}). Nothing was lost: what was not committed is "
        "done again by the next run once the disk takes writes"
    )


def _busy(exc: BaseException) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED, from the error's code (Python 3.11+), not its words."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in _BUSY_CODES
