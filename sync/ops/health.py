"""`psa-sync status --check`: is the sync working, in an exit code a monitor can alert on.

For Nagios / Icinga, a Kubernetes probe or a cron mail: exit 0 when healthy, else one line per
problem and the code of the first, in this order (README "Health check"):

    10  no successful run (exit 0 or 1, a `run` or a daemon cycle) within --max-age
    11  a run died (killed, power cut) within --max-age
    12  more than --max-quarantine deals have been quarantined for over a day
    13  the outbox holds write-backs waiting longer than --max-age
    14  the org's API usage reached limits.max_org_api_percent
    15  the daemon's event stream (``events:``) has been silent longer than events.stale_after
        and the poll is stale too (no successful cycle within --max-age): nothing reads Salesforce

With events enabled and the stream healthy (a message within events.stale_after), the poll runs
only every events.safety_poll, so 10 then allows the last successful cycle to be
safety_poll + --max-age old.

The codes stay clear of the run's own (0-5, 70-76): a config error is still 2. Read-only, like
`status`: safe while a run holds the lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sync.common.clock import iso, parse_iso, utcnow
from sync.config import Settings
from sync.state import State

STALE, DIED, QUARANTINE, OUTBOX, API_USAGE, STREAM_DOWN = 10, 11, 12, 13, 14, 15
QUARANTINE_AGE = timedelta(days=1)


@dataclass(frozen=True)
class Finding:
    code: int
    line: str


@dataclass(frozen=True)
class Health:
    findings: list[Finding]
    summary: str

    @property
    def exit_code(self) -> int:
        return min((f.code for f in self.findings), default=0)

    def text(self) -> str:
        if not self.findings:
            return f"OK: {self.summary}"
        return "\n".join(
            f"CRITICAL ({f.code}): {f.line}" for f in sorted(self.findings, key=lambda f: f.code)
        )


def check(
    settings: Settings, max_age: timedelta, max_quarantine: int = 0, now: datetime | None = None
) -> Health:
    now = now or utcnow()
    with State.reading(settings.state) as state:
        if state is None:
            return Health(
                [
                    Finding(
                        STALE,
                        f"no run has succeeded yet: there is no state file at {settings.state}",
                    )
                ],
                "",
            )
        return _check(state, settings, max_age, max_quarantine, now)


def _check(
    state: State, settings: Settings, max_age: timedelta, max_quarantine: int, now: datetime
) -> Health:
    since = iso(now - max_age)
    findings: list[Finding] = []
    last_ok = state.last_success()
    heard = _stream_heard(state, settings, now)
    allowed = max_age + (settings.events.safety_poll if heard else timedelta(0))
    if last_ok is None or last_ok < iso(now - allowed):
        when = (
            "no run has succeeded yet"
            if last_ok is None
            else f"the last successful run finished at {last_ok}, {_ago(now, last_ok)} ago"
        )
        if settings.events.enabled and not heard:
            findings.append(
                Finding(
                    STREAM_DOWN,
                    f"the event stream has been silent for more than events.stale_after "
                    f"{_span(settings.events.stale_after)} and {when}; see the daemon's "
                    "log and `psa-sync status` (events: last fault)",
                )
            )
        else:
            findings.append(
                Finding(
                    STALE, f"{when} (more than --max-age {_span(allowed)}); see `psa-sync status`"
                )
            )
    died, last_died = state.died_since(since)
    if died:
        findings.append(
            Finding(
                DIED,
                f"{died} run(s) died within {_span(max_age)} (the last started at "
                f"{last_died}); the next run recovered, but find out why (OOM, kill, power)",
            )
        )
    old = state.quarantined_before(iso(now - QUARANTINE_AGE))
    if old > max_quarantine:
        findings.append(
            Finding(
                QUARANTINE,
                f"{old} deal(s) quarantined for over a day (more than "
                f"--max-quarantine {max_quarantine}); `psa-sync status` lists them",
            )
        )
    stuck, oldest = state.outbox_waiting_since(since)
    if stuck:
        findings.append(
            Finding(
                OUTBOX,
                f"{stuck} deal(s) wait in the outbox for their Salesforce write-back "
                f"since {oldest} (more than {_span(max_age)}); see `psa-sync explain ID`",
            )
        )
    usage = _usage(state.last_org_usage())
    share = settings.limits.max_org_api_percent
    if usage is not None and usage >= share:
        findings.append(
            Finding(
                API_USAGE,
                f"the org has used {usage:.0f}% of its daily API requests "
                f"(limits.max_org_api_percent {share:g}%); runs stop with exit 4",
            )
        )
    counts = state.counts()
    summary = (
        (
            f"last successful run {_ago(now, last_ok)} ago; "
            f"quarantine {counts['quarantine']}, outbox {counts['outbox']}; "
            f"org API usage {'?' if usage is None else f'{usage:.0f}%'}"
        )
        if last_ok
        else ""
    )
    return Health(findings, summary)


def _stream_heard(state: State, settings: Settings, now: datetime) -> bool:
    """The daemon's stream spoke (an event or a keepalive) within events.stale_after."""
    from sync.state.events import stream_status

    if not settings.events.enabled:
        return False
    last = (stream_status(state) or {}).get("last_message")
    return last is not None and now - parse_iso(last) < settings.events.stale_after


def _usage(usage: dict | None) -> float | None:
    """The org's API usage in percent, as the last run that heard it from Salesforce reported it."""
    if not usage or not usage.get("max") or usage.get("used") is None:
        return None
    return 100.0 * usage["used"] / usage["max"]


def _ago(now: datetime, stamp: str) -> str:
    return _span(now - parse_iso(stamp))


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}" + (
                f"{seconds % size // 60}m" if unit == "h" and seconds % size else ""
            )
    return f"{seconds}s"
