"""The Salesforce connector: the client (client.py) and its OAuth, Bulk API 2.0, Collections, errors, budget."""
