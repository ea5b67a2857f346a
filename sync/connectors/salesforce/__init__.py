"""The Salesforce connector: client (client.py), OAuth, Bulk 2.0, Collections, errors, budget."""
