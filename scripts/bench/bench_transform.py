"""Time the transform of the default mapping over synthetic won deals (not a test: prints numbers).

    .venv/bin/python scripts/bench/bench_transform.py [--deals 100000] [--page 2000]

The target (issue 4) is 100,000 deals mapped in under 5 s on the project machine. Records are
REST-shaped like a SOQL page: ``attributes``, a nested ``Account``, JSON numbers, Salesforce
datetimes; a few per cent are broken on purpose (unknown Type, non-numeric Amount, empty
Account) so the error path is timed as well.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from sync.mapping.loader import load_mapping
from sync.transform.rows import transform

ROOT = Path(__file__).resolve().parent.parent.parent
TYPES = [
    "New Customer",
    "Existing Customer - Upgrade",
    "Existing Customer - Replacement",
    "Existing Customer - Downgrade",
]


def make_records(count: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    records = []
    for i in range(count):
        broken = rng.random() < 0.03
        records.append(
            {
                "attributes": {
                    "type": "Opportunity",
                    "url": f"/services/data/v62.0/sobjects/Opportunity/{i}",
                },
                "Id": f"006{i:012d}AAA",
                "SystemModstamp": f"2026-02-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00.000+0000",
                "IsDeleted": False,
                "IsWon": rng.random() < 0.9,
                "Name": f"Deal {i}",
                "Account": None
                if i % 50 == 0
                else {"attributes": {"type": "Account"}, "Name": f"Customer {i % 997}"},
                "Amount": "abc" if broken else round(rng.uniform(1000, 500000), 2),
                "Description": None if i % 3 else f"Scope of deal {i}",
                "CloseDate": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "End_Date__c": f"2027-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "Type": "Barter" if broken and i % 2 else rng.choice(TYPES),
                "PSA_Project_Id__c": str(i) if i % 4 == 0 else None,
                "PSA_Project_URL__c": None,
                "PSA_Status__c": "active" if i % 4 == 0 else None,
                "PSA_Percent_Complete__c": 40 if i % 4 == 0 else None,
                "PSA_Hours_Spent__c": 7.5 if i % 4 == 0 else None,
            }
        )
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=2000, help="records per call, as a SOQL page")
    args = parser.parse_args()
    mapping = load_mapping(ROOT / "mappings" / "opportunity_to_project.yaml")
    records = make_records(args.deals)
    for label, page in (("one call", args.deals), (f"pages of {args.page}", args.page)):
        started = time.perf_counter()
        rows = errors = 0
        for start in range(0, len(records), page):
            result = transform(records[start : start + page], mapping)
            rows += len(result.rows)
            errors += len(result.errors)
        elapsed = time.perf_counter() - started
        print(
            f"{label:>16}: {args.deals:,} deals in {elapsed:.2f} s "
            f"({args.deals / elapsed:,.0f}/s) -> {rows:,} rows, {errors:,} errors"
        )


if __name__ == "__main__":
    main()
