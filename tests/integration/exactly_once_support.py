"""Shared by the exactly-once tests (issue 6): a deal book, kill helpers and the invariant check.

The invariant check reads both systems as a person would (the emulator's records, Redmine's REST
API) and the state file as bytes-on-disk through SQLite, never through psa-sync's own code, so a
bug in psa-sync cannot hide itself from the check.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from tests.fixtures.sync import CLI

BILLING = {"New Customer": "Fixed Fee", "Existing Customer - Upgrade": "Time & Materials",
           "Existing Customer - Replacement": "Time & Materials", "Existing Customer - Downgrade": "Retainer"}
TYPES = tuple(BILLING)
KEY = "Salesforce Opportunity Id"  # the Redmine custom field holding the deal Id
KILLED = -signal.SIGKILL


@dataclass
class Book:
    """The deals of one scenario, made through the emulator's control API."""

    emu: object
    rng: random.Random
    accounts: list[str] = field(default_factory=list)
    deals: list[str] = field(default_factory=list)

    def account(self) -> str:
        if len(self.accounts) < 4:
            self.accounts.append(self.emu.create("Account", Name=f"Account {len(self.accounts) + 1}"))
        return self.rng.choice(self.accounts)

    def deal(self, won: bool = True, **fields) -> str:
        n = len(self.deals)
        values = dict(Name=f"Deal {n:03d}", AccountId=self.account(), Amount=1000 + n * 250.5,
                      CloseDate=f"2026-03-{n % 28 + 1:02d}", End_Date__c=f"2026-10-{n % 28 + 1:02d}",
                      StageName="Closed Won" if won else "Prospecting", Type=TYPES[n % len(TYPES)],
                      Description=f"Scope of deal {n}")
        values.update(fields)
        deal_id = self.emu.create("Opportunity", **values)
        self.deals.append(deal_id)
        return deal_id

    def seed(self, won: int, other: int = 0) -> None:
        for _ in range(won):
            self.deal()
        for _ in range(other):
            self.deal(won=False)

    def churn(self, max_deals: int = 40) -> None:
        """What salespeople do between two runs: edit an amount, win a deal, add a new won deal
        (while the book holds fewer than ``max_deals``, so a long soak stays fast)."""
        self.emu.update("Opportunity", self.rng.choice(self.deals), Amount=round(self.rng.uniform(1, 9e5), 2))
        open_deals = [d for d in self.deals if not self.emu.get("Opportunity", d)["IsWon"]]
        if open_deals:
            self.emu.update("Opportunity", self.rng.choice(open_deals), StageName="Closed Won")
        if len(self.deals) < max_deals:
            self.deal(won=self.rng.random() < 0.8)


def won_deals(emu) -> dict[str, dict]:
    rows = emu.query("SELECT Id, Name, Amount, CloseDate, End_Date__c, Type, Account.Name, PSA_Project_Id__c, "
                     "PSA_Project_URL__c FROM Opportunity WHERE IsWon = true")
    return {row["Id"]: row for row in rows}


def redmine_projects(redmine, keys: set[str] | None = None) -> list[dict]:
    """Every project with its custom values by name; only those whose key is in ``keys`` if given
    (the Redmine is shared: other tests' projects are not this scenario's business)."""
    out = []
    for project in redmine.projects():
        values = {cf["name"]: cf.get("value") for cf in project.get("custom_fields", [])}
        if keys is None or values.get(KEY) in keys:
            out.append(dict(project, values=values))
    return out


def synced_projects(redmine, prefix: str = "sf-") -> list[dict]:
    """Every project a run could have made, whatever its key says: those whose identifier has the
    prefix (the account parents, ``<prefix>acct-…``, aside) and those whose key is set at all."""
    return [p for p in redmine_projects(redmine) if could_be_synced(p, prefix)]


def could_be_synced(project: dict, prefix: str = "sf-") -> bool:
    identifier = project["identifier"]
    return bool(project["values"].get(KEY)) or (
        identifier.startswith(prefix) and not identifier.startswith(prefix + "acct-"))


def assert_no_duplicate(projects: list[dict], when: str = "") -> None:
    """No project without a key, no key on two projects (of :func:`synced_projects`)."""
    keyless = sorted(f"{p['identifier']} (#{p['id']})" for p in projects if not p["values"].get(KEY))
    assert not keyless, f"{len(keyless)} projects without a deal{when}: {keyless[:5]}"
    per_key = Counter(p["values"][KEY] for p in projects)
    duplicates = {k: n for k, n in per_key.items() if n > 1}
    assert not duplicates, f"duplicate projects{when}: {duplicates}"


def one_project_per_won_deal(projects: list[dict], won: set[str]) -> dict[str, dict]:
    """One project per won deal, no project without a deal, no key on two projects: the projects by key.

    ``projects`` are all those a run could have made (:func:`synced_projects`), so a duplicate with a
    wrong key or none is counted, not overlooked."""
    assert_no_duplicate(projects)
    by_key = {p["values"][KEY]: p for p in projects}
    missing = sorted(won - set(by_key))
    assert not missing, f"{len(missing)} won deals have no project: {missing[:5]}"
    stray = sorted(set(by_key) - won)
    assert not stray, f"projects for deals that are not won: {stray[:5]}"
    return by_key


def state_rows(path, table: str) -> list[dict]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(f"SELECT * FROM {table}")]  # noqa: S608 - fixed names
    finally:
        conn.close()


def assert_exactly_once(harness, *, check_fields: bool = True, check_state: bool = True,
                        psa_url: str | None = None) -> dict[str, dict]:
    """Exactly one Redmine project per won deal, links written back, fields correct, nothing pending.

    Every project the run could have made is counted (:func:`synced_projects`), not only those whose
    key is a deal's, so a stray copy with a wrong key or none fails the check.

    ``psa_url`` is the Redmine URL psa-sync was given (a fault proxy's, say). Returns the projects
    keyed by deal Id.
    """
    emu, redmine = harness.emu, harness.redmine
    won = won_deals(emu)
    prefix = harness.options.get("identifier_prefix", "sf-")
    by_key = one_project_per_won_deal(synced_projects(redmine, prefix), set(won))
    for deal_id, deal in won.items():
        project = by_key[deal_id]
        assert project["identifier"] == prefix + deal_id.lower()
        assert deal["PSA_Project_Id__c"] == str(project["id"]), f"{deal_id}: link not written back"
        assert deal["PSA_Project_URL__c"] == f"{psa_url or redmine.env.url}/projects/{project['identifier']}"
        if check_fields:
            values = project["values"]
            account = (deal.get("Account") or {}).get("Name") or ""
            assert project["name"] == f"{account} - {deal['Name']}", deal_id
            assert Decimal(values["Budget"]) == Decimal(str(deal["Amount"] or 0)), deal_id
            assert values["Billing type"] == BILLING[deal["Type"]], deal_id
            assert values["Start date"] == deal["CloseDate"], deal_id
            assert values["End date"] == deal["End_Date__c"], deal_id
            assert values["Customer"] == account, deal_id
    if check_state:
        assert state_rows(harness.state, "intents") == []
        assert state_rows(harness.state, "outbox") == []
        assert state_rows(harness.state, "quarantine") == []
        links = {row["record_id"]: row for row in state_rows(harness.state, "links")}
        assert set(links) >= set(won)
        for deal_id in won:
            assert links[deal_id]["project_id"] == by_key[deal_id]["id"]
    return {k: by_key[k] for k in won}


# --- running the CLI and killing it --------------------------------------------------------------------


def run_with_crash(harness, point: str, nth: int, timeout: float = 300) -> int:
    """One run that SIGKILLs itself the ``nth`` time it passes ``point``; its exit code (-9 when killed)."""
    harness.extra_env["PSA_SYNC_CRASH_AT"] = f"{point}:{nth}"
    try:
        return harness.cli("run", timeout=timeout).returncode
    finally:
        harness.extra_env.pop("PSA_SYNC_CRASH_AT", None)


def run_killed_after(harness, seconds: float, timeout: float = 300, args: tuple[str, ...] = ("run",)) -> int:
    """One run (or another command: ``args``) killed by an outside timer after ``seconds`` (if still
    running); its exit code."""
    if not harness.config.exists():
        harness.write_config()
    proc = subprocess.Popen([*CLI, "--config", str(harness.config), *args], env=harness.env(), cwd=harness.workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        return proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        return proc.wait(timeout=timeout)


def run_until_clean(harness, max_runs: int = 5) -> list[int]:
    """Run until one exits 0; the exit codes seen. Fails after ``max_runs``."""
    codes = []
    for _ in range(max_runs):
        result = harness.run(expect=None)
        codes.append(result.returncode)
        if result.returncode == 0:
            return codes
    raise AssertionError(f"no clean run in {max_runs}: exit codes {codes}\n{result.stdout}\n{result.stderr[-3000:]}")


def last_counts(harness) -> dict:
    return harness.status()["runs"][0]["counts"]


def events(harness, action: str | None = None) -> list[dict]:
    return [e for e in state_rows(harness.state, "events") if action is None or e["action"] == action]


def dumps(value) -> str:
    return json.dumps(value, indent=1, default=str)
