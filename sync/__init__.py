"""psa-sync: won Salesforce deals become PSA projects exactly once; delivery flows back."""

__version__ = "0.1.0"
