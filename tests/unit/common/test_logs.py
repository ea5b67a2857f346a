"""Redaction: a secret never reaches a log line or a printed line, however JSON escapes it."""

from __future__ import annotations

import json
import logging

import pytest

from sync import cli
from sync.common import logs, redaction

# A quote, a backslash and non-ASCII: JSON writes each of these differently from the raw value.
CANARY = 'CANARY"sec\\ret-ñü-7f3a'


@pytest.fixture
def secret():
    redaction.forget_secrets()
    logs.register_secret(CANARY)
    yield CANARY
    redaction.forget_secrets()


def every_form(value: str) -> list[str]:
    return [value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]]


def formatted(as_json: bool, message: str, *args) -> str:
    record = logging.LogRecord("sync.test", logging.ERROR, __file__, 1, message, args, None)
    return logs.RedactingFormatter(as_json).format(record)


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_a_secret_with_quotes_backslashes_and_accents_is_redacted_in_every_format(secret, as_json):
    line = formatted(as_json, "the server said: bad client_secret=%s", secret)
    assert "***" in line
    assert [form for form in every_form(secret) if form in line] == []


def test_the_check_would_see_the_secret_were_redaction_off(secret):
    redaction.forget_secrets()
    line = formatted(True, "the server said: bad client_secret=%s", secret)
    # escaped by JSON: a redaction after dumps alone misses it
    assert json.dumps(secret)[1:-1] in line


def test_errors_the_cli_prints_are_redacted(secret, capsys):
    cli.echo(f"psa-sync: the token endpoint refused {secret}", err=True)
    cli.echo(json.dumps({"error": f"refused {secret}"}))
    out, err = capsys.readouterr()
    assert [form for form in every_form(secret) if form in out + err] == []
    assert err.count("***") == 1 and out.count("***") == 1


def test_a_secret_read_from_the_config_is_known_before_logging_is_set_up(secret):
    from sync.config import Secret

    redaction.forget_secrets()
    Secret("key-" + CANARY)
    assert logs.redact("x key-" + CANARY + " y") == "x *** y"
