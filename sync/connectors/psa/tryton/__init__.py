"""The Tryton connector: the PsaConnector (connector.py), its JSON-RPC, reads, writes, server module."""
