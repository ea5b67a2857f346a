"""The order of the stages (stages.py) and what a run holds: its session, plan, backfill, clients."""
