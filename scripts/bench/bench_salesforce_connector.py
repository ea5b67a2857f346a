"""Benchmark: the Salesforce connector on the local TLS emulator (prints numbers, asserts nothing).

    .venv/bin/python scripts/bench/bench_salesforce_connector.py [--rows 20000] [--updates 2000]

Measures token time, paging throughput (rows/s over queryAll + nextRecordsUrl) and sObject
Collections throughput (records/s, 200 a call), through build_session + SalesforceClient exactly
as the pipeline builds them.
"""

from __future__ import annotations

import argparse
import time

from sync.config import SalesforceAuth, SalesforceConfig, Secret
from sync.connectors.http import build_session
from sync.connectors.salesforce.client import SalesforceClient
from sync.emulator import Emulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--updates", type=int, default=2000)
    args = parser.parse_args()
    with Emulator() as emu:
        started = time.perf_counter()
        emu.seed(args.rows, seed=1)
        print(f"seed            {args.rows} deals in {time.perf_counter() - started:.2f}s")
        auth = SalesforceAuth(
            flow="jwt",
            username=emu.username,
            client_id=emu.client_id,
            private_key_file=emu.private_key_file,
            client_secret=Secret(emu.client_secret),
        )
        config = SalesforceConfig(
            login_url=emu.url, auth=auth, api_version=emu.api_version, ca_bundle=emu.ca_file
        )
        client = SalesforceClient(
            config,
            build_session(ca_bundle=emu.ca_file, timeout=60, retries=3),
            max_calls_per_run=100000,
        )
        started = time.perf_counter()
        client.connect()
        print(f"token (jwt)     {1000 * (time.perf_counter() - started):.1f} ms")

        started = time.perf_counter()
        rows = 0
        for page in client.query_pages(
            "SELECT Id, Name, Amount, StageName, CloseDate, Account.Name, "
            "SystemModstamp FROM Opportunity ORDER BY SystemModstamp, Id"
        ):
            rows += len(page)
        elapsed = time.perf_counter() - started
        pages = client.usage.calls["queryAll"] + client.usage.calls["queryMore"]
        print(
            f"paging          {rows} rows in {pages} pages, "
            f"{elapsed:.2f}s = {rows / elapsed:,.0f} rows/s"
        )

        ids = emu.ids("Opportunity")[: args.updates]
        records = [
            {
                "Id": i,
                "PSA_Project_Id__c": str(n),
                "PSA_Project_URL__c": f"https://psa.example/p/{n}",
            }
            for n, i in enumerate(ids)
        ]
        started = time.perf_counter()
        results = client.update("Opportunity", records)
        elapsed = time.perf_counter() - started
        ok = sum(r.success for r in results)
        print(
            f"collections     {ok}/{len(records)} records in "
            f"{client.usage.calls['composite']} calls, "
            f"{elapsed:.2f}s = {len(records) / elapsed:,.0f} records/s"
        )
        print(
            f"calls           {dict(client.usage.calls)}  "
            f"org usage {client.usage.org_used}/{client.usage.org_max}"
        )


if __name__ == "__main__":
    main()
