"""Logging: stderr, text or JSON, and every known secret redacted from every line.

Secrets (tokens, keys, passwords) can reach a log line through an exception message or a traceback
even when no code logs them on purpose; the redacting formatter replaces each known secret, in every
form :mod:`sync.common.redaction` knows, with ``***`` in the message, its arguments and the
formatted traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from sync.common.redaction import redact, register_secret

__all__ = ["RedactingFormatter", "redact", "register_secret", "setup_logging"]


class RedactingFormatter(logging.Formatter):
    def __init__(self, as_json: bool):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        if self.as_json:
            payload: dict[str, Any] = {
                "at": self.formatTime(record),
                "level": record.levelname,
                "logger": record.name,
                "message": redact(record.getMessage()),
            }
            if record.exc_info:
                payload["exception"] = redact(self.formatException(record.exc_info))
            # redacted before escaping, and after for good measure
            return redact(json.dumps(payload))
        return redact(super().format(record))


def setup_logging(level: str, fmt: str, settings: Any | None) -> None:
    """Configure the root logger once (re-called after the config loads, to learn its secrets)."""
    if settings is not None:
        for secret in _settings_secrets(settings):
            register_secret(secret)
    root = logging.getLogger()
    root.setLevel(level.upper())
    handler = next((h for h in root.handlers if getattr(h, "_psa_sync", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._psa_sync = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(RedactingFormatter(fmt == "json"))
    for noisy in ("urllib3", "simple_salesforce"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def _settings_secrets(settings: Any) -> list[str]:
    auth = settings.salesforce.auth
    values = [settings.psa.api_key, auth.client_secret, auth.password, auth.security_token]
    return [v.get() for v in values if v is not None]
