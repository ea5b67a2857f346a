"""The Tryton connector: the PsaConnector (connector.py), JSON-RPC, reads, writes, server module."""
