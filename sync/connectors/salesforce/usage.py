"""The Salesforce API budget: this run's calls per endpoint, the org's usage, and when to stop.

Every response's ``Sforce-Limit-Info`` header (``api-usage=used/max``) is read by a response hook
on the session, because simple-salesforce's own ``api_usage`` misses SFType calls and errors. Before
each data call the client asks :func:`budget_problem`: a run stops (``BudgetExceededError``, exit 4)
rather than pass its own cap or the org's share, and resumes from its last page next time.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import requests

_LIMIT_INFO = re.compile(r"(?<![\w-])api-usage=(\d+)/(\d+)")


@dataclass
class ApiUsage:
    """This run's own calls per endpoint, and the org's usage from the latest Sforce-Limit-Info."""

    calls: Counter = field(default_factory=Counter)  # endpoint → calls, see endpoint_of
    org_used: int | None = None
    org_max: int | None = None
    before_run: Counter = field(
        default_factory=Counter
    )  # calls a kept connection made before this run

    @property
    def total(self) -> int:
        """Data calls of this run; the token calls (``calls["token"]``) are not API requests."""
        return sum(
            n - self.before_run[endpoint]
            for endpoint, n in self.calls.items()
            if endpoint != "token"
        )

    def begin_run(self) -> None:
        """A connection kept across runs (the daemon) gives each run its ``max_calls_per_run``."""
        self.before_run = Counter(self.calls)

    def record(self, response: requests.Response) -> str:
        endpoint = endpoint_of(response.request.method or "GET", response.request.path_url)
        self.calls[endpoint] += 1
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.org_used, self.org_max = int(match.group(1)), int(match.group(2))
        return endpoint


def endpoint_of(method: str, path: str) -> str:
    """The name a call is counted under: token, query, queryAll, queryMore, composite, describe,
    limits, bulk2_create, bulk2_poll, bulk2_results, bulk2_abort, bulk2_delete, …

    The names are the emulator's, so a test can compare both counts directly.
    """
    path = path.split("?", 1)[0].rstrip("/")
    if path.endswith("/oauth2/token"):
        return "token"
    parts = path.split("/")
    if "data" not in parts or len(parts) <= parts.index("data") + 2:
        return "other"
    rest = parts[parts.index("data") + 2 :]  # after /services/data/vXX.X/
    head = rest[0]
    if head in ("query", "queryAll"):
        return "queryMore" if len(rest) > 1 else head
    if head == "sobjects" and rest[-1] == "describe":
        return "describe"
    if head == "jobs":
        return _bulk_endpoint(method.upper(), rest)
    return {"composite": "composite", "sobjects": "sobject", "limits": "limits"}.get(head, head)


def _bulk_endpoint(method: str, rest: list[str]) -> str:
    """Bulk 2.0 jobs: ``jobs/query`` (create), ``…/<id>`` (poll, abort, delete), ``…/results``."""
    if rest[1:2] != ["query"] or len(rest) > 4:
        return "bulk2"
    if len(rest) == 2:
        return "bulk2_create" if method == "POST" else "bulk2_list"
    if len(rest) == 4:
        return "bulk2_results" if rest[3] == "results" else "bulk2"
    return {"GET": "bulk2_poll", "PATCH": "bulk2_abort", "DELETE": "bulk2_delete"}.get(
        method, "bulk2"
    )


def budget_problem(
    usage: ApiUsage, max_calls_per_run: int, max_org_api_percent: float
) -> str | None:
    """Why the next data call would pass a limit (this run's cap, or the org's share), or None."""
    if usage.total >= max_calls_per_run:
        return (
            f"this run made {usage.total} Salesforce API calls, the most limits.max_calls_per_run "
            f"({max_calls_per_run}) allows"
        )
    if usage.org_used is not None and usage.org_max:
        allowed = usage.org_max * max_org_api_percent / 100.0
        if usage.org_used + 1 > allowed:
            return (
                f"the org has used {usage.org_used} of its {usage.org_max} daily API requests; "
                "one more would pass limits.max_org_api_percent "
                f"({max_org_api_percent:g}% = {int(allowed)})"
            )
    return None
