"""Data for the emulator: a bulk seed of N realistic deals, and the hand-made demo book.

The bulk seed bypasses per-record validation (it writes rows that are valid by construction) so
that a million deals load in seconds; stamps are consecutive milliseconds ending now, in Id
order, as if the deals had been entered one after another just before the test.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sync.emulator.schema import OPPORTUNITY_TYPES, STAGES
from sync.emulator.values import format_ms

if TYPE_CHECKING:
    from sync.emulator.emulator import Emulator

_PREFIXES = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Hooli",
    "Vandelay",
    "Cyberdyne",
    "Soylent",
    "Tyrell",
    "Aperture",
    "Monarch",
    "Oscorp",
    "Gringotts",
    "Nakatomi",
    "Massive Dynamic",
    "Pied Piper",
    "Dunder Mifflin",
)
_SUFFIXES = (
    "Corporation",
    "Industries",
    "Logistics",
    "Health",
    "Financial",
    "Labs",
    "Systems",
    "Retail",
    "Energy",
    "Holdings",
    "Group",
    "Partners",
)
_PRODUCTS = (
    "ERP Rollout",
    "CRM Migration",
    "Data Platform",
    "Support Renewal",
    "Cloud Migration",
    "Security Audit",
    "Analytics Pilot",
    "Field Service App",
    "Integration Project",
    "Training Package",
)
_INDUSTRIES = (
    "Manufacturing",
    "Energy",
    "Technology",
    "Healthcare",
    "Transportation",
    "Finance",
    "Retail",
)
_LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
_OPEN_STAGES = tuple(stage for stage in STAGES if stage != "Closed Won")


def _stamps(emu: Emulator, count: int) -> list[str]:
    """``count`` consecutive-millisecond stamps ending now (formatted once per second)."""
    first = emu.store.reserve_stamps(count)
    out, second, head = [], None, ""
    for ms in range(first, first + count):
        if ms // 1000 != second:
            second = ms // 1000
            head = format_ms(second * 1000)[:19]
        out.append(f"{head}.{ms % 1000:03d}+0000")
    return out


def seed_deals(emu: Emulator, n: int, won_ratio: float = 0.3, seed: int | None = None) -> int:
    """Insert ``n`` deals over ``max(1, min(n // 20, 5000))`` accounts in one transaction each."""
    rng = random.Random(seed)
    account_obj, deal_obj = emu.schema.object("Account"), emu.schema.object("Opportunity")
    user = emu.user_id
    n_accounts = max(1, min(n // 20, 5000))
    stamps = _stamps(emu, n_accounts + n)
    account_ids = emu.id_factory.batch("001", n_accounts)
    account_names = [
        f"{rng.choice(_PREFIXES)} {rng.choice(_SUFFIXES)} {i + 1}" for i in range(n_accounts)
    ]
    emu.store.insert_many(
        account_obj,
        (
            "Id",
            "IsDeleted",
            "OwnerId",
            "CreatedDate",
            "CreatedById",
            "LastModifiedDate",
            "LastModifiedById",
            "SystemModstamp",
            "Name",
            "Industry",
            "Type",
        ),
        [
            (
                account_ids[i],
                0,
                user,
                s,
                user,
                s,
                user,
                s,
                account_names[i],
                rng.choice(_INDUSTRIES),
                "Customer - Direct",
            )
            for i, s in enumerate(stamps[:n_accounts])
        ],
    )
    today = date.today()
    days = [(today - timedelta(days=d)).isoformat() for d in range(366)]
    ends = [(today + timedelta(days=d)).isoformat() for d in range(-365, 400)]

    def rows():
        deal_ids: list[str] = []
        for i in range(n):
            if i % 10_000 == 0:
                deal_ids = emu.id_factory.batch("006", min(10_000, n - i))
            won = rng.random() < won_ratio
            stage = "Closed Won" if won else _OPEN_STAGES[int(rng.random() * len(_OPEN_STAGES))]
            probability, closed, is_won = STAGES[stage]
            a = int(rng.random() * n_accounts)
            account = None if rng.random() < 0.05 else account_ids[a]
            s = stamps[n_accounts + i]
            yield (
                deal_ids[i % 10_000],
                0,
                user,
                s,
                user,
                s,
                user,
                s,
                f"{account_names[a]} - {_PRODUCTS[i % len(_PRODUCTS)]}",
                account,
                round(5000 + rng.random() * 495000, 2),
                days[int(rng.random() * 366)],
                stage,
                probability,
                int(closed),
                int(is_won),
                OPPORTUNITY_TYPES[int(rng.random() * 4)],
                _LEAD_SOURCES[i % 5],
                ends[int(rng.random() * 765)] if won else None,
            )

    emu.store.insert_many(
        deal_obj,
        (
            "Id",
            "IsDeleted",
            "OwnerId",
            "CreatedDate",
            "CreatedById",
            "LastModifiedDate",
            "LastModifiedById",
            "SystemModstamp",
            "Name",
            "AccountId",
            "Amount",
            "CloseDate",
            "StageName",
            "Probability",
            "IsClosed",
            "IsWon",
            "Type",
            "LeadSource",
            "End_Date__c",
        ),
        rows(),
    )
    return n


#: the products a bulk seed sells (code, name, family, list price): the example structure mapping's
#: consulting, training and project-management services, and a licence that is no service
SOLD = (
    ("CONS-DAY", "Consulting day", "Services", 1200.0),
    ("TRAIN-DAY", "Training day", "Services", 900.0),
    ("PM-FLAT", "Project management", "Services", 3000.0),
    ("LIC-ENT", "Enterprise licence", "Software", 300.0),
)
_LINE_COLUMNS = (
    "Id",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
    "OpportunityId",
    "PricebookEntryId",
    "Product2Id",
    "ProductCode",
    "Name",
    "Quantity",
    "UnitPrice",
    "ListPrice",
    "TotalPrice",
    "SortOrder",
)


def seed_line_items(
    emu: Emulator, per_deal: int, where: str = "IsWon = 1", seed: int | None = None
) -> int:
    """Give each deal matching ``where`` (SQL over the stored columns) ``per_deal`` line items of
    :data:`SOLD`, inserted in one transaction like :func:`seed_deals`; returns how many were made.

    Each line is stamped with its deal's own ``SystemModstamp`` (as if sold when the deal was last
    saved: no stamp moves, so a bulk seed adds no amendment to the next run's window), and each
    deal's ``Amount`` and ``HasOpportunityLineItem`` follow as an org's roll-up makes them."""
    rng = random.Random(seed)
    entries = [
        (emu.add_product(name, code=code, family=family, list_price=price), code, name, price)
        for code, name, family, price in SOLD
    ]
    products = {
        entry: emu.store.row(emu.schema.object("PricebookEntry"), entry)["Product2Id"]
        for entry, *_ in entries
    }
    with emu.store.lock:
        deals = emu.store.db.execute(
            f'SELECT Id, Name, SystemModstamp FROM "Opportunity" WHERE {where} ORDER BY Id'
        ).fetchall()
    line_ids = emu.id_factory.batch("00k", len(deals) * per_deal) if deals else []
    user = emu.user_id
    totals: dict[str, float] = {}

    def rows():
        for d, (deal, deal_name, stamp) in enumerate(deals):
            for k in range(per_deal):
                entry, code, name, price = entries[int(rng.random() * len(entries))]
                quantity = float(1 + int(rng.random() * 20))
                totals[deal] = totals.get(deal, 0.0) + quantity * price
                yield (
                    line_ids[d * per_deal + k],
                    0,
                    stamp,
                    user,
                    stamp,
                    user,
                    stamp,
                    deal,
                    entry,
                    products[entry],
                    code,
                    f"{deal_name} {name}"[:376],
                    quantity,
                    price,
                    price,
                    round(quantity * price, 2),
                    k,
                )

    emu.store.insert_many(emu.schema.object("OpportunityLineItem"), _LINE_COLUMNS, rows())
    with emu.store.transaction() as db:
        db.executemany(
            'UPDATE "Opportunity" SET HasOpportunityLineItem = 1, Amount = ? WHERE Id = ?',
            [(round(total, 2), deal) for deal, total in totals.items()],
        )
    return len(deals) * per_deal


_DEMO_ACCOUNTS = (
    ("Acme Corporation", "Manufacturing", "Customer - Direct", "Chicago"),
    ("Globex Industries", "Energy", "Customer - Direct", "Houston"),
    ("Initech", "Technology", "Customer - Channel", "Austin"),
    ("Umbrella Health", "Healthcare", "Prospect", "Boston"),
    ("Stark Logistics", "Transportation", "Customer - Direct", "Rotterdam"),
    ("Wayne Financial", "Finance", "Customer - Direct", "New York"),
)
# (account index or None, name, stage, amount, type, close in days from today,
#  project length in days)
_DEMO_DEALS = (
    (0, "ERP Rollout Phase 1", "Closed Won", 185000.0, "New Customer", -20, 120),
    (0, "Shop-floor Analytics", "Closed Won", 64000.0, "Existing Customer - Upgrade", -5, 60),
    (1, "Grid Monitoring Platform", "Closed Won", 420000.0, "New Customer", -2, 240),
    (2, "TPS Report Automation", "Closed Won", 38500.0, "Existing Customer - Replacement", -1, 45),
    (5, "Treasury Data Warehouse", "Closed Won", 275000.0, "New Customer", 0, 180),
    (4, "Fleet Tracking Renewal", "Closed Won", 52000.0, "Existing Customer - Downgrade", -12, 30),
    (3, "Patient Portal", "Prospecting", 90000.0, "New Customer", 60, 90),
    (3, "Clinical Data Migration", "Qualification", 150000.0, "New Customer", 75, 120),
    (1, "Field Service App", "Needs Analysis", 72000.0, "Existing Customer - Upgrade", 45, 90),
    (
        2,
        "Helpdesk Consolidation",
        "Value Proposition",
        41000.0,
        "Existing Customer - Upgrade",
        30,
        60,
    ),
    (4, "Warehouse Robotics Pilot", "Id. Decision Makers", 130000.0, "New Customer", 40, 100),
    (
        5,
        "Fraud Scoring Service",
        "Perception Analysis",
        210000.0,
        "Existing Customer - Upgrade",
        35,
        150,
    ),
    (0, "Supplier Portal", "Proposal/Price Quote", 88000.0, "Existing Customer - Upgrade", 20, 90),
    (
        1,
        "Carbon Reporting",
        "Negotiation/Review",
        56000.0,
        "Existing Customer - Replacement",
        10,
        60,
    ),
    (2, "Legacy Mainframe Exit", "Closed Lost", 310000.0, "New Customer", -30, 200),
    (None, "Inbound Web Lead - Consulting Day", "Closed Won", 2400.0, "New Customer", -3, 5),
)


def seed_demo(emu: Emulator) -> dict[str, list[str]]:
    """Create the demo book through the normal write path.

    So stamps and derived fields are real.
    """
    accounts = [
        emu.create("Account", Name=name, Industry=industry, Type=kind, BillingCity=city)
        for name, industry, kind, city in _DEMO_ACCOUNTS
    ]
    today = date.today()
    deals, won = [], []
    for account, name, stage, amount, kind, close_in, length in _DEMO_DEALS:
        close = today + timedelta(days=close_in)
        customer = _DEMO_ACCOUNTS[account][0] if account is not None else "a web lead"
        deal = emu.create(
            "Opportunity",
            Name=name,
            AccountId=accounts[account] if account is not None else None,
            StageName=stage,
            Amount=amount,
            Type=kind,
            CloseDate=close,
            End_Date__c=close + timedelta(days=length),
            LeadSource="Partner Referral" if account is not None else "Web",
            Description=f"{name} for {customer}.",
        )
        deals.append(deal)
        if stage == "Closed Won":
            won.append(deal)
    return {"accounts": accounts, "opportunities": deals, "won": won}
