"""The shared HTTP session: timeouts, safe retries, a CA bundle the environment cannot override."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import responses
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sync.common.errors import ConfigError
from sync.connectors.http import TlsVerificationRequired, build_session, certificate_rejected

SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


# --- a tiny loopback server whose answers a test scripts ------------------------------------------


@dataclass
class Script:
    """Statuses to answer in order (the last repeats); records every method the server saw."""

    statuses: list[int] = field(default_factory=lambda: [200])
    headers: dict[str, str] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    release: threading.Event | None = None  # when set, the handler waits for it before answering


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            script.seen.append(self.command)
            try:
                self._reply()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer

        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if script.release is not None:
                script.release.wait(10)
            index = min(len(script.seen) - 1, len(script.statuses) - 1)
            body = b'{"ok": true}'
            self.send_response(script.statuses[index])
            for name, value in script.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serve(script: Script, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        if script.release is not None:
            script.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def make_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a 127.0.0.1 server certificate it signed: (ca, cert, key) files."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "psa-sync test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    ca_file, cert_file, key_file = make_ca_and_server_cert(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    with serve(Script(), tls=context) as url:
        yield url, ca_file


@pytest.fixture
def env_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of our machines: both variables point at the system bundle."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", SYSTEM_BUNDLE)
    monkeypatch.setenv("CURL_CA_BUNDLE", SYSTEM_BUNDLE)


# --- CA bundle ------------------------------------------------------------------------------------


def test_ca_bundle_is_used_even_when_the_environment_names_another(tls_server, env_bundle):
    url, ca_file = tls_server
    session = build_session(ca_bundle=ca_file, timeout=5, retries=0)
    assert session.get(url + "/ping").status_code == 200


def test_without_ca_bundle_the_private_ca_is_not_trusted(tls_server, env_bundle):
    url, _ = tls_server
    session = build_session(ca_bundle=None, timeout=5, retries=0)
    with pytest.raises(requests.exceptions.SSLError) as caught:
        session.get(url + "/ping")
    assert certificate_rejected(caught.value)


def test_a_refused_connection_is_not_a_certificate_problem():
    with serve(Script()) as url:
        pass
    session = build_session(ca_bundle=None, timeout=1, retries=0)
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        session.get(url + "/gone")
    assert not certificate_rejected(caught.value)


def test_combined_bundle_keeps_the_machine_cas_and_is_private(tmp_path, env_bundle):
    ca_file, _, _ = make_ca_and_server_cert(tmp_path)
    session = build_session(ca_bundle=ca_file, timeout=5, retries=0)
    combined = Path(session.verify)
    assert combined.stat().st_mode & 0o777 == 0o600
    text = combined.read_text()
    assert ca_file.read_text().strip() in text
    assert Path(SYSTEM_BUNDLE).read_text().strip()[:2000] in text


def test_environment_proxies_still_apply_with_a_pinned_bundle(tmp_path, monkeypatch):
    ca_file, _, _ = make_ca_and_server_cert(tmp_path)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = build_session(ca_bundle=ca_file, timeout=5, retries=0)
    settings = session.merge_environment_settings("https://example.com/x", {}, None, None, None)
    assert settings["proxies"].get("https") == "http://proxy.invalid:3128"
    assert settings["verify"] == session.verify


def test_a_ca_bundle_without_certificates_is_a_config_error(tmp_path):
    bogus = tmp_path / "not-a-ca.pem"
    bogus.write_text("hello")
    with pytest.raises(ConfigError, match="no PEM certificate"):
        build_session(ca_bundle=bogus, timeout=5, retries=0)


@pytest.mark.parametrize("with_ca", [True, False])
@pytest.mark.parametrize("env", [SYSTEM_BUNDLE, ""])
def test_verify_is_never_false(tmp_path, monkeypatch, with_ca, env):
    ca_file = make_ca_and_server_cert(tmp_path)[0] if with_ca else None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", env)
    monkeypatch.setenv("CURL_CA_BUNDLE", env)
    session = build_session(ca_bundle=ca_file, timeout=5, retries=0)
    assert session.verify is not False
    for verify in (None, True):
        merged = session.merge_environment_settings("https://127.0.0.1/", {}, None, verify, None)
        assert merged["verify"] not in (False, "", None)
    with pytest.raises(TlsVerificationRequired):
        session.get("https://127.0.0.1:9/", verify=False)
    session.verify = False
    with pytest.raises(TlsVerificationRequired):
        session.merge_environment_settings("https://127.0.0.1/", {}, None, None, None)


# --- timeouts -------------------------------------------------------------------------------------


@responses.activate
def test_every_request_gets_the_default_timeout_unless_it_gives_one():
    responses.get("https://sf.example/a", json={})
    session = build_session(ca_bundle=None, timeout=7.5, retries=0)
    session.get("https://sf.example/a")
    session.get("https://sf.example/a", timeout=2)
    assert [c.request.req_kwargs["timeout"] for c in responses.calls] == [7.5, 2]


def test_a_silent_server_times_out_instead_of_hanging():
    script = Script(release=threading.Event())
    with serve(script) as url:
        session = build_session(ca_bundle=None, timeout=0.2, retries=0)
        # urllib3 wraps the last attempt's read timeout; requests reports it as a ConnectionError
        with pytest.raises(requests.exceptions.RequestException, match="Read timed out"):
            session.get(url + "/slow")


@responses.activate
@pytest.mark.parametrize("asked", [True, False, None])
def test_a_session_never_follows_a_redirect_whatever_the_caller_asks(asked):
    responses.get(
        "https://psa.example/a", status=302, headers={"Location": "https://elsewhere.example/a"}
    )
    responses.get("https://elsewhere.example/a", json={})
    session = build_session(ca_bundle=None, timeout=1, retries=0)
    session.headers["X-Redmine-API-Key"] = "secret"
    kwargs = {} if asked is None else {"allow_redirects": asked}
    assert session.get("https://psa.example/a", **kwargs).status_code == 302
    assert [c.request.url for c in responses.calls] == ["https://psa.example/a"]


def test_user_agent_names_the_product():
    session = build_session(ca_bundle=None, timeout=1, retries=0)
    assert session.headers["User-Agent"].startswith("psa-sync/")


@pytest.mark.parametrize("timeout,retries", [(0, 1), (1, -1)])
def test_nonsense_timeouts_and_retries_are_config_errors(timeout, retries):
    with pytest.raises(ConfigError):
        build_session(ca_bundle=None, timeout=timeout, retries=retries)


# --- retries --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
def test_idempotent_calls_are_retried_through_5xx(method):
    script = Script(statuses=[503, 502, 200])
    with serve(script) as url:
        session = build_session(ca_bundle=None, timeout=5, retries=3, backoff_factor=0.001)
        response = session.request(method, url + "/thing", json={"a": 1})
    assert response.status_code == 200
    assert script.seen == [method] * 3


def test_a_post_is_never_resent():
    script = Script(statuses=[503, 200])
    with serve(script) as url:
        session = build_session(ca_bundle=None, timeout=5, retries=3, backoff_factor=0.001)
        response = session.post(url + "/create", json={"a": 1})
    assert response.status_code == 503
    assert script.seen == ["POST"]


def test_after_the_last_retry_the_status_is_returned_not_raised():
    script = Script(statuses=[500])
    with serve(script) as url:
        session = build_session(ca_bundle=None, timeout=5, retries=2, backoff_factor=0.001)
        response = session.get(url + "/broken")
    assert response.status_code == 500
    assert len(script.seen) == 3


def test_client_errors_are_not_retried():
    script = Script(statuses=[400, 200])
    with serve(script) as url:
        session = build_session(ca_bundle=None, timeout=5, retries=3, backoff_factor=0.001)
        assert session.get(url + "/bad").status_code == 400
    assert script.seen == ["GET"]


def test_retry_after_is_respected():
    script = Script(statuses=[503, 200], headers={"Retry-After": "0"})
    with serve(script) as url:
        session = build_session(ca_bundle=None, timeout=5, retries=1, backoff_factor=0.001)
        assert session.get(url + "/busy").status_code == 200
    assert len(script.seen) == 2


def test_connection_refused_is_retried_then_raised():
    with serve(Script()) as url:
        pass  # the port is closed again now
    session = build_session(ca_bundle=None, timeout=1, retries=1, backoff_factor=0.001)
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(url + "/gone")


def test_urllib3_log_lines_never_show_query_strings(caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(
        logging.DEBUG, logger="urllib3"
    )  # whatever level a test before left on urllib3
    script = Script(statuses=[503, 200])
    with serve(script) as url:
        session = build_session(ca_bundle=None, timeout=5, retries=1, backoff_factor=0.001)
        session.get(
            url + "/services/data/v62.0/query/", params={"q": "SELECT Id WHERE Name = 'Hush deal'"}
        )
    urllib3_lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any("/services/data/v62.0/query/" in line for line in urllib3_lines)
    assert "Hush" not in caplog.text
