"""The Redmine connector: the PsaConnector (connector.py) and its transport, site, reads and writes."""
