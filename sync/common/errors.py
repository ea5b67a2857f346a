"""The exception tree of psa-sync, split by what the caller must do.

::

    SyncError                       root; ``exit_code`` is what the CLI exits with
    ├── ConfigError          (2)    fix the config, mapping or usage; carries every problem at once
    │   ├── MappingError     (2)    a mapping file is wrong; each problem names file, line and key
    │   ├── YamlSyntaxError  (2)    a config or mapping file is not YAML at all; names file and line
    │   ├── TlsVerificationRequired (2)  someone asked to switch TLS verification off: ca_bundle
    │   └── AdoptionRefused  (2)    a pair to link or unlink by hand is wrong; names line or record
    ├── StateMismatchError   (2)    the state file was made against another org or PSA
    ├── StateFileError       (2)    the state file is not a psa-sync state file
    ├── UnreachableError     (3)    Salesforce or the PSA cannot be reached now: try later
    │   ├── SalesforceUnavailable
    │   └── PsaUnavailable
    ├── BudgetExceededError  (4)    stopped early to protect the Salesforce API budget
    ├── AuthError            (5)    authentication or authorisation refused: needs a person
    ├── SystemLimitError     (71)   the process ran out of file descriptors (``ulimit -n``)
    ├── LocalIOError         (74)   the local disk refused (full, read-only, permissions)
    ├── LockHeldError        (75)   another run holds the lock
    │   └── DaemonRunningError (75) another daemon serves the same state file
    │   └── StateBusyError   (75)   another process holds the state file's write lock: try again
    ├── ProtocolViolation    (76)   a system answered against its own API contract: nothing advanced
    └── RecordError                 one record is bad: quarantine it, the batch goes on

Who catches what:

- ``RecordError`` is raised by a connector for one record's failure (e.g. the PSA refusing the
  parent project of that deal's Account). ``load`` catches it around that record: the deal is
  quarantined with the reason, the rest of the page goes on, and the run exits 1. Per-record
  refusals that arrive as data (a ``WriteResult`` of ``failed``, a collections error) take the same
  path.
- Every other ``SyncError`` ends the run: ``stages.run_session`` records it on the run row (status,
  exit code, message) after the final write-back, and ``cli.py`` prints it and exits with its code.
- Anything else is a bug: the session records the run as failed, ``cli.py`` logs it (redacted) and
  exits 70 (``UNEXPECTED``, EX_SOFTWARE), so exit 1 always means new record-level failures. Ctrl-C
  is recorded as ``interrupted`` and exits 130.

Connectors translate vendor errors (simple-salesforce exceptions, HTTP statuses) into these at
their boundary, from structured data (status, errorCode), never from message substrings. Messages
say what failed, which record or object, and what happens next.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit code of a psa-sync command, and its one meaning: the single source of the tables
    in README "Running it", docs/architecture.md §7 and ``psa-sync --help``
    (tests/unit/common/test_exit_codes.py holds the docs to it). ``status --check`` has codes of its
    own (``sync.ops.health``), clear of these."""

    meaning: str

    def __new__(cls, code: int, meaning: str) -> ExitCode:
        member = int.__new__(cls, code)
        member._value_ = code
        member.meaning = meaning
        return member

    DONE = 0, "done"
    FAILURES = (
        1,
        (
            "done, with *new* record-level failures in this run (quarantined deals, "
            "refused write-backs, a phase or task the PSA refused: its deal quarantined at stage "
            "`structure`)"
        ),
    )
    CONFIG = (
        2,
        "bad config, mapping, usage, or a state file made against another org/PSA "
        "(or not a state file)",
    )
    UNREACHABLE = (
        3,
        "Salesforce or the PSA unreachable, "
        "or the PSA left writes unconfirmed (5xx) after retrying",
    )
    BUDGET = 4, "stopped early to protect the Salesforce API budget"
    AUTH = 5, "authentication or authorisation refused"
    UNEXPECTED = 70, "a bug in psa-sync (an unexpected exception: EX_SOFTWARE)"
    SYSTEM_LIMIT = (
        71,
        "the process ran out of file descriptors (`Too many open files`): not the disk",
    )
    LOCAL_IO = (
        74,
        "the local disk refused the state file or its lock (full, read-only, permissions)",
    )
    LOCK_HELD = (
        75,
        (
            "another run holds the lock; "
            "for `daemon`: another daemon serves the same state file; "
            "or another process holds the state file's write lock"
        ),
    )
    PROTOCOL = 76, "a system answered against its own API contract; nothing was advanced"
    INTERRUPTED = 130, "interrupted (Ctrl-C)"


#: Exit codes of what is not a SyncError: a bug (EX_SOFTWARE), and an interrupt (128 + SIGINT).
UNEXPECTED = ExitCode.UNEXPECTED
INTERRUPTED = ExitCode.INTERRUPTED


def exit_code_of(exc: BaseException) -> int:
    """The exit code for any exception: a SyncError's own, else interrupted or unexpected."""
    if isinstance(exc, SyncError):
        return exc.exit_code
    return INTERRUPTED if isinstance(exc, KeyboardInterrupt) else UNEXPECTED


class SyncError(Exception):
    """Root of every error psa-sync raises on purpose."""

    exit_code: int = ExitCode.FAILURES
    # set when the error stopped a connector's batch: what it obtained before, in input order
    results: Sequence[object]


class ConfigError(SyncError):
    """The config file, a mapping or the command line is wrong.

    ``problems`` holds every problem found, so a person fixes them in one go rather than one
    run at a time.
    """

    exit_code = ExitCode.CONFIG

    def __init__(self, problems: str | Iterable[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class MappingError(ConfigError):
    """A mapping file is wrong; each problem reads ``file:line: key: what is wrong``."""


class YamlSyntaxError(ConfigError):
    """A config or mapping file is not YAML at all, so nothing after ``line`` can be trusted.

    Its one problem reads ``file:line: (yaml): message`` like every other config or mapping
    problem, so a caller may let it through or fold it into its own error.
    """

    def __init__(self, source: str, line: int, message: str):
        self.line = line
        super().__init__(f"{source}:{line}: (yaml): {message}")


class TlsVerificationRequired(ConfigError):
    """Someone asked to turn TLS verification off (``verify=False``); psa-sync never does.

    A configuration matter, not a transient one: a person points ``ca_bundle`` at the CA that signs
    the peer's certificate instead.
    """


class AdoptionRefused(ConfigError):
    """``adopt``, ``link`` or ``unlink`` refused a pair before writing anything: a pairs line naming
    an unknown deal or project, a duplicate line, a deal or project already linked. Every problem
    names the file and line, or the record."""


class StateMismatchError(SyncError):
    """The state file belongs to another Salesforce org or another PSA."""

    exit_code = ExitCode.CONFIG


class StateFileError(SyncError):
    """The state file is not one psa-sync can read (another file, corrupt): move it away."""

    exit_code = ExitCode.CONFIG


class LocalIOError(SyncError):
    """The local disk refused a read or write of the state file or lock (EX_IOERR from sysexits.h).

    Every commit point is a transaction, so nothing was half-written: once the disk takes writes
    again, the next run finishes the work."""

    exit_code = ExitCode.LOCAL_IO


class SystemLimitError(SyncError):
    """The process hit an operating-system limit, not the disk: no file descriptor left (EMFILE,
    ENFILE). EX_OSERR from sysexits.h. Time may free them (the daemon backs off); a limit too low
    for the host needs a person (``ulimit -n``, systemd's ``LimitNOFILE``)."""

    exit_code = ExitCode.SYSTEM_LIMIT


class UnreachableError(SyncError):
    """A system did not answer (timeout, connection refused, 5xx after retries): transient."""

    exit_code = ExitCode.UNREACHABLE


class SalesforceUnavailable(UnreachableError):
    """Salesforce did not answer usefully; the run stopped and resumes next time."""


class PsaUnavailable(UnreachableError):
    """The PSA did not answer usefully; the run stopped and resumes next time."""


class BudgetExceededError(SyncError):
    """Stopped before the Salesforce API budget (org share or per-run cap) was passed."""

    exit_code = ExitCode.BUDGET


class AuthError(SyncError):
    """Salesforce or the PSA refused our credentials or permissions; a person must act."""

    exit_code = ExitCode.AUTH


class LockHeldError(SyncError):
    """Another psa-sync process holds the state lock (cron and systemd must never stack runs)."""

    exit_code = ExitCode.LOCK_HELD


class DaemonRunningError(LockHeldError):
    """Another ``psa-sync daemon`` holds the single-instance lock beside the same state file: two
    daemons would take turns at the run lock and each report the other's runs as held."""


class StateBusyError(LockHeldError):
    """SQLite answered "database is locked" (SQLITE_BUSY): another process holds the state file's
    write lock.

    Not a disk that refused (exit 74 would send a person to look for a full or read-only disk):
    every psa-sync writer holds the run lock, so this is a process outside that rule (a person's
    ``sqlite3`` shell, a copy of psa-sync that ignores the lock). Nothing was half-written; run
    again."""


class ProtocolViolation(SyncError):
    """A system answered against its own documented contract (query rows out of their ORDER BY).

    Not an outage (exit 3 would say "wait") and not our config (exit 2): the run stopped before
    advancing anything, the next run reads the same window again, and if it repeats a person should
    report it to the vendor. EX_PROTOCOL from sysexits.h.
    """

    exit_code = ExitCode.PROTOCOL


class RecordError(SyncError):
    """One record cannot be processed; it is quarantined with this reason and the batch goes on."""

    def __init__(self, record_id: str, stage: str, reason: str):
        self.record_id = record_id
        self.stage = stage
        self.reason = reason
        super().__init__(f"{record_id}: {stage}: {reason}")
