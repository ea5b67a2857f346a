"""Change Data Capture through Salesforce's Pub/Sub API: the daemon's event path (issue 24).

``pubsub_api.proto`` is the subset of Salesforce's eventbus.v1 protocol psa-sync speaks;
``pubsub_api_pb2*.py`` are generated from it (``make proto``) and never edited by hand.
"""
