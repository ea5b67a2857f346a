"""Fixtures of the Salesforce connector's unit tests: a signing key, a session, a client."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sync.connectors.http import build_session
from sync.connectors.salesforce.client import SalesforceClient
from tests.unit.connectors.salesforce.canned import NOW, add_token, make_config


@pytest.fixture(scope="session")
def rsa_key(tmp_path_factory) -> tuple[Path, rsa.RSAPublicKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("keys") / "server.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path, key.public_key()


@pytest.fixture
def session() -> requests.Session:
    return build_session(ca_bundle=None, timeout=5, retries=0)


@pytest.fixture
def client(rsa_key, session):
    """A connected JWT client whose sleeps are recorded, not slept."""
    slept: list[float] = []
    sf = SalesforceClient(
        make_config("jwt", rsa_key[0]), session, now=lambda: NOW, sleep=slept.append
    )
    sf.slept = slept
    with responses.mock:
        add_token()
        sf.connect()
        yield sf
