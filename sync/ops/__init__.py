"""The operator commands beside the run.

adopt, check, reconcile, forecast, metrics, health, status and explain.
"""
