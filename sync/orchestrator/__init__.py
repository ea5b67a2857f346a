"""The order of the stages (stages.py) and what a run holds: session, plan, backfill, clients."""
