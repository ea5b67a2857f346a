"""THE BASELINE: the hand-written simple-salesforce loop that `make bench` compares with.

    token → query_all(won deals with no project yet) → for each deal: make its project
    (here a dry PSA: an id is invented, nothing is sent) → sf.Opportunity.update(link)
    → sf.Opportunity.update(status)

Two REST calls per deal on top of the query: what psa-sync is measured against. Run by
scripts/bench/bench.py in a subprocess (so its peak memory is its own); prints one JSON line: the
deals it linked.

    python scripts/bench/bench_baseline.py --login-url URL --client-id ID --client-secret S
        --ca FILE
"""

from __future__ import annotations

import argparse
import json

import requests
from simple_salesforce import Salesforce

QUERY = (
    "SELECT Id, Name, Account.Name, Amount, CloseDate, Type, End_Date__c FROM Opportunity "
    "WHERE IsWon = true AND PSA_Project_Id__c = null"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for option in ("--login-url", "--client-id", "--client-secret", "--ca"):
        parser.add_argument(option, required=True)
    parser.add_argument("--api-version", default="62.0")
    args = parser.parse_args()
    session = requests.Session()
    session.verify, session.trust_env = args.ca, False
    token = session.post(
        f"{args.login_url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": args.client_id,
            "client_secret": args.client_secret,
        },
    )
    token.raise_for_status()
    answer = token.json()
    sf = Salesforce(
        instance_url=answer["instance_url"],
        session_id=answer["access_token"],
        session=session,
        version=args.api_version,
    )
    deals = sf.query_all(QUERY)["records"]
    for number, deal in enumerate(deals, 1):
        project_id = 100_000 + number  # the dry PSA: the project the loop would create
        sf.Opportunity.update(
            deal["Id"],
            {
                "PSA_Project_Id__c": str(project_id),
                "PSA_Project_URL__c": f"http://psa.invalid/projects/{project_id}",
            },
        )
        sf.Opportunity.update(deal["Id"], {"PSA_Status__c": "active"})
    print(json.dumps({"linked": len(deals), "writes": len(deals)}))


if __name__ == "__main__":
    main()
