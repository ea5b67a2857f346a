"""Salesforce → pages of raw records: the incremental read (incremental.py) and SOQL (soql/)."""
