"""Time the structure transform (issue 23) beside the plain transform (not a test: prints numbers).

    .venv/bin/python scripts/bench/bench_structure.py [--deals 10000] [--lines 5] [--page 2000]

Over synthetic won deals carrying ``OpportunityLineItems`` as the REST subquery returns them, with
``mappings/examples/structure.yaml``: the transform alone, then the transform plus each deal's
structure (routing, template, one task per service line), the per-deal cost ``plan_page`` adds.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from bench_transform import make_records  # scripts/ is the script's own folder

from sync.mapping.loader import load_mapping
from sync.transform.rows import transform
from sync.transform.structure import page_structures

ROOT = Path(__file__).resolve().parent.parent.parent
PRODUCTS = [
    ("CONS-DAY", "Consulting day", "Services", 1200.0),
    ("TRAIN-DAY", "Training day", "Services", 900.0),
    ("PM-FLAT", "Project management", "Services", 3000.0),
    ("LIC-ENT", "Enterprise licence", "Licences", 300.0),
]


def with_line_items(records: list[dict], lines: int, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    for n, record in enumerate(records):
        items = []
        for k in range(lines):
            code, name, family, price = rng.choice(PRODUCTS)
            quantity = rng.randint(1, 20)
            items.append(
                {
                    "attributes": {"type": "OpportunityLineItem"},
                    "Id": f"00k{n:09d}{k:03d}AAA",
                    "Quantity": quantity,
                    "UnitPrice": price,
                    "TotalPrice": quantity * price,
                    "ServiceDate": None,
                    "Description": None,
                    "SortOrder": k,
                    "ProductCode": code,
                    "Estimated_Hours__c": None,
                    "Product2": {
                        "attributes": {"type": "Product2"},
                        "Name": name,
                        "ProductCode": code,
                        "Family": family,
                    },
                }
            )
        record["OpportunityLineItems"] = {"totalSize": lines, "done": True, "records": items}
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--page", type=int, default=2000)
    args = parser.parse_args()
    mapping = load_mapping(ROOT / "mappings" / "examples" / "structure.yaml")
    records = with_line_items(make_records(args.deals), args.lines)
    for label, structure in (("without structure", False), ("with structure", True)):
        started, cpu = time.perf_counter(), time.process_time()
        children = errors = 0
        for start in range(0, len(records), args.page):
            page = records[start : start + args.page]
            result = transform(page, mapping)
            if structure:
                _, failed, structures = page_structures(result.rows, page, mapping)
                errors += len(failed)
                children += sum(len(s.children) for s in structures.values())
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"{label:>18}: {args.deals:,} deals × {args.lines} line items in {elapsed:.2f} s "
            f"(CPU {cpu:.2f} s, the figure a shared machine changes least; "
            f"{args.deals / elapsed:,.0f} deals/s); "
            f"{children:,} children, {errors:,} structure errors"
        )


if __name__ == "__main__":
    main()
