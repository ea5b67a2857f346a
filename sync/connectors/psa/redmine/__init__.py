"""The Redmine connector: the PsaConnector (connector.py), its transport, site, reads and writes."""
