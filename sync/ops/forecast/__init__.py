"""psa-sync forecast: upcoming delivery hours per month from the state file alone.

README "Forecast" is its contract.
"""
