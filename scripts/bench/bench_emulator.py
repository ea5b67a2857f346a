"""Benchmark the emulator: seed 1,000,000 deals, then page 100,000 through simple-salesforce.

Prints numbers; asserts nothing (figures depend on the machine). Usage:
    .venv/bin/python scripts/bench/bench_emulator.py [--deals 1000000] [--page 100000]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from simple_salesforce import Salesforce  # noqa: E402

from sync.emulator import Emulator  # noqa: E402
from sync.extract.soql import parse_sf_datetime, quote  # noqa: E402
from tests.fixtures.emulator import trusting_session  # noqa: E402

QUERY = (
    "SELECT Id, Name, Account.Name, Amount, StageName, CloseDate, Type, End_Date__c, "
    "SystemModstamp FROM Opportunity WHERE SystemModstamp >= {since} ORDER BY SystemModstamp, Id"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument(
        "--page", type=int, default=100_000, help="rows to page through simple-salesforce"
    )
    args = parser.parse_args()
    with Emulator() as emu:
        started = time.perf_counter()
        emu.seed(args.deals, seed=42)
        seeded = time.perf_counter() - started
        print(f"seed {args.deals:,} deals: {seeded:.1f} s ({args.deals / seeded:,.0f} rows/s)")

        # the watermark that leaves the newest `page` deals (seeded stamps are 1 ms apart)
        newest = emu.query(
            "SELECT SystemModstamp FROM Opportunity ORDER BY SystemModstamp DESC LIMIT 1"
        )[0]
        since = quote(
            parse_sf_datetime(newest["SystemModstamp"]) - timedelta(milliseconds=args.page - 1)
        )

        sf = Salesforce(
            instance_url=emu.url,
            session_id=emu.issue_token(),
            session=trusting_session(emu),
            version=emu.api_version,
        )
        started = time.perf_counter()
        count = sum(1 for _ in sf.query_all_iter(QUERY.format(since=since), include_deleted=True))
        paged = time.perf_counter() - started
        calls = emu.calls["queryAll"] + emu.calls["queryMore"]
        print(
            f"page {count:,} rows via simple-salesforce query_all_iter "
            f"(queryAll, 9 fields + Account.Name): "
            f"{paged:.1f} s ({count / paged:,.0f} rows/s, {calls} calls)"
        )


if __name__ == "__main__":
    main()
