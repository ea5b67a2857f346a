"""Fuzz: whatever a person (or a broken deploy) puts in a config or mapping file, the loaders answer
with ConfigError / MappingError, each problem ``file:line: key: message``, and never a traceback.

Documents are random YAML: nested mappings, lists and scalars of every YAML type, the real key names
and plausible values mixed in so the validators are reached and not only the first type check,
dumped with ``yaml.safe_dump``; then random text built from YAML's own syntax (tags, anchors,
merge keys, flow collections), and random bytes. Each test stays within a few seconds.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.common.errors import MappingError
from sync.config import ConfigError, load_settings
from sync.mapping import load_mapping
from tests.fixtures.profiles import examples

# FUZZ_N=5000 for a longer hunt by hand; the default keeps each test within a few seconds.
FUZZ = settings(
    max_examples=examples(int(os.environ.get("FUZZ_N", 120))),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PROBLEM = re.compile(r"^.+:\d+: \S.*: .+", re.S)  # file:line: key: message

CONFIG_KEYS = [
    "salesforce",
    "psa",
    "mapping",
    "state",
    "schedule",
    "limits",
    "http",
    "login_url",
    "token_url",
    "audience",
    "api_version",
    "auth",
    "ca_bundle",
    "flow",
    "username",
    "client_id",
    "private_key_file",
    "client_secret",
    "client_secret_file",
    "password",
    "password_file",
    "security_token",
    "security_token_file",
    "connector",
    "url",
    "api_key",
    "api_key_file",
    "options",
    "interval",
    "hours_interval",
    "max_org_api_percent",
    "max_calls_per_run",
    "timeout",
    "retries",
    "identifier_prefix",
    "customer",
    "on_closed",
    "write_concurrency",
    "custom_fields",
]
CONFIG_VALUES = [
    "jwt",
    "client_credentials",
    "password",
    "redmine",
    "https://login.salesforce.com",
    "http://127.0.0.1:3000",
    "http://redmine.example.com",
    "https://u:p@h",
    "https://",
    "https://[::1",
    "${SF_CLIENT_ID}",
    "${UNSET}",
    "${EMPTY}",
    "${SF_CLIENT_ID}${EMPTY}",
    "$",
    "${",
    "2m",
    "0",
    "-1",
    "10s",
    "1e400",
    "99999999999999999d",
    "62.0",
    "v62.0",
    "~",
    "~nobody-here/x",
    "m.yaml",
    "/",
    ".",
    "..",
    "a\0b",
    "",
    " ",
]
MAPPING_KEYS = [
    "version",
    "source",
    "key",
    "project",
    "writeback",
    "backsync",
    "lifecycle",
    "conflicts",
    "object",
    "criteria",
    "start_date",
    "lookback",
    "fields",
    "from",
    "template",
    "type",
    "default",
    "required",
    "map",
    "unmapped",
    "max_length",
    "overflow",
    "transform",
    "date_add",
    "days",
    "tz",
    "sync",
    "name",
    "customer",
    "budget",
    "billing_type",
    "PSA_Project_Id__c",
    "PSA_Status__c",
    "on_unwon",
    "on_deleted",
]
MAPPING_VALUES = [
    "Opportunity",
    "Id",
    "IsWon = true",
    "Amount > 0 AND (Type = 'x' OR IsWon = false)",
    "(((",
    "Name LIKE '%",
    "Id IN ('a','b')",
    "2026-01-01",
    "10m",
    "0m",
    "string",
    "decimal",
    "integer",
    "date",
    "datetime",
    "boolean",
    "error",
    "default",
    "pass",
    "truncate",
    "always",
    "on_create",
    "upper",
    "lower",
    "strip",
    "Europe/Paris",
    "America",
    "UTC",
    "../../etc",
    "project.id",
    "project.url",
    "status",
    "percent_complete",
    "spent_hours",
    "flag",
    "close",
    "ignore",
    "crm_wins",
    "keep_psa",
    "Account.Name",
    "{Account.Name} - {Name}",
    "{",
    "{0}",
    "{Name!r}",
    "1,5",
    "1e5",
    "NaN",
    "true",
    "2024-05-01T12:34:56Z",
    "99999999999999999999d",
    "9999-12-31T23:59:59Z",
]

ENV = {
    "SF_CLIENT_ID": "cid",
    "SF_CLIENT_SECRET": "secret",
    "REDMINE_URL": "http://127.0.0.1:3000",
    "REDMINE_API_KEY": "key",
    "EMPTY": "",
}


# The ends of YAML's value ranges, where converting (to UTC, to a time zone, to text) overflows.
EDGES = [
    date.max,
    date.min,
    datetime.max.replace(tzinfo=timezone(timedelta(hours=-5))),
    datetime.min.replace(tzinfo=timezone(timedelta(hours=5))),
    datetime.max,
    10**4000,
    float("inf"),
    float("nan"),
    -0.0,
    2**63,
    -(2**63) - 1,
]


def scalars(values: list[str]) -> st.SearchStrategy:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(-(10**30), 10**30),
        st.floats(),
        st.text(max_size=20),
        st.dates(),
        st.datetimes(),
        st.datetimes(
            timezones=st.sampled_from(
                [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=14))]
            )
        ),
        st.sampled_from(EDGES),
        st.sampled_from(values),
    )


def documents(keys: list[str], values: list[str]) -> st.SearchStrategy:
    key = st.one_of(
        st.sampled_from(keys),
        st.sampled_from(keys),
        st.text(max_size=8),
        st.integers(),
        st.booleans(),
        st.none(),
        st.dates(),
    )
    return st.recursive(
        scalars(values),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(key, inner, max_size=6)
        ),
        max_leaves=25,
    )


@st.composite
def mutated(draw, base: object, keys: list[str], values: list[str]) -> object:
    """``base`` with some keys dropped, some values replaced by random documents, some keys
    added."""
    if not isinstance(base, dict):
        return draw(documents(keys, values)) if draw(st.integers(0, 4)) == 0 else base
    out = {}
    for name, value in base.items():
        choice = draw(st.integers(0, 9))
        if choice == 0:
            continue
        out[name] = (
            draw(documents(keys, values)) if choice == 1 else draw(mutated(value, keys, values))
        )
    if draw(st.integers(0, 4)) == 0:
        out[draw(st.sampled_from(keys))] = draw(documents(keys, values))
    return out


def dumped(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return strategy.map(lambda doc: yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


YAML_TOKENS = [
    "\n",
    "\n  ",
    "\n    ",
    ": ",
    "- ",
    "? ",
    "{",
    "}",
    "[",
    "]",
    ", ",
    "&a ",
    "*a",
    "<<: ",
    "!!int ",
    "!!float ",
    "!!timestamp ",
    "!!binary ",
    "!!str ",
    "!!map ",
    "!!seq ",
    "!!set ",
    "!!omap ",
    "!!python/object:os.system ",
    "!custom ",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "|\n  ",
    ">\n  ",
    "'",
    '"',
    "#",
    "\t",
    "\\",
    "\x00",
    "\ufeff",
    "\x85",
    "x",
    "1",
    "0x1F",
    "1e9",
    "2026-01-01",
    ".inf",
    "~",
    "null",
    "yes",
    "${SF_CLIENT_ID}",
    "9" * 4400,
]


def yaml_soup(keys: list[str], values: list[str]) -> st.SearchStrategy:
    return st.lists(
        st.one_of(st.sampled_from(YAML_TOKENS), st.sampled_from(keys), st.sampled_from(values)),
        max_size=40,
    ).map("".join)


VALID_CONFIG = {
    "salesforce": {
        "login_url": "https://login.salesforce.com",
        "api_version": "62.0",
        "auth": {
            "flow": "client_credentials",
            "client_id": "${SF_CLIENT_ID}",
            "client_secret": "${SF_CLIENT_SECRET}",
        },
    },
    "psa": {
        "connector": "redmine",
        "url": "${REDMINE_URL}",
        "api_key": "${REDMINE_API_KEY}",
        "options": {
            "identifier_prefix": "sf-",
            "custom_fields": {"key": "Salesforce Opportunity Id"},
        },
    },
    "mapping": "m.yaml",
    "state": "s.sqlite",
    "schedule": {"interval": "2m", "hours_interval": 0},
    "limits": {"max_org_api_percent": 80, "max_calls_per_run": 5000},
    "http": {"timeout": "30s", "retries": 5},
}
VALID_MAPPING = {
    "version": 1,
    "source": {
        "object": "Opportunity",
        "criteria": "IsWon = true",
        "start_date": date(2026, 1, 1),
        "lookback": "10m",
    },
    "key": "Id",
    "project": {
        "fields": {
            "name": {"template": "{Account.Name} - {Name}", "max_length": 255},
            "customer": "Account.Name",
            "budget": {"from": "Amount", "type": "decimal", "default": 0},
            "start_date": {
                "from": "CloseDate",
                "type": "date",
                "date_add": {"days": 3},
                "tz": "Europe/Paris",
            },
            "billing_type": {
                "from": "Type",
                "map": {"New Customer": "Fixed Fee", 1: "x", False: "y"},
                "unmapped": "default",
                "default": "T&M",
                "required": True,
                "transform": ["strip"],
            },
            "kicked_off": {"from": "CreatedDate", "type": "datetime", "sync": "on_create"},
        }
    },
    "writeback": {"PSA_Project_Id__c": "project.id", "PSA_Project_URL__c": "project.url"},
    "backsync": {
        "PSA_Status__c": "status",
        "PSA_Hours_Spent__c": {"from": "spent_hours", "type": "decimal"},
    },
    "lifecycle": {"on_unwon": "flag", "on_deleted": "close"},
    "conflicts": "crm_wins",
}

CONFIG_INPUTS = st.one_of(
    dumped(documents(CONFIG_KEYS, CONFIG_VALUES)),
    dumped(mutated(VALID_CONFIG, CONFIG_KEYS, CONFIG_VALUES)),
    yaml_soup(CONFIG_KEYS, CONFIG_VALUES),
    st.text(max_size=200),
)
MAPPING_INPUTS = st.one_of(
    dumped(documents(MAPPING_KEYS, MAPPING_VALUES)),
    dumped(mutated(VALID_MAPPING, MAPPING_KEYS, MAPPING_VALUES)),
    yaml_soup(MAPPING_KEYS, MAPPING_VALUES),
    st.text(max_size=200),
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


LOADERS = {
    "config": (lambda path: load_settings(path, ENV), ConfigError),
    "mapping": (load_mapping, MappingError),
}


def outcome(kind: str, path) -> list[str]:
    """The problems the config or mapping loader reports for ``path`` ([] if it loads); anything it
    raises other than its own error fails the test with the traceback."""
    load, error = LOADERS[kind]
    try:
        load(path)
    except error as exc:
        assert exc.problems and all(PROBLEM.match(p) for p in exc.problems), exc.problems
        return exc.problems
    return []


def fed(folder, kind: str, text: str) -> list[str]:
    path = folder / f"{kind}.yaml"
    path.write_text(text, encoding="utf-8")
    return outcome(kind, path)


def test_the_valid_seeds_load(folder):
    """The documents the mutations start from are valid: a problem comes from a mutation."""
    assert fed(folder, "config", yaml.safe_dump(VALID_CONFIG)) == []
    assert fed(folder, "mapping", yaml.safe_dump(VALID_MAPPING)) == []


@FUZZ
@given(text=CONFIG_INPUTS)
def test_any_config_text_is_loaded_or_refused_with_problems_never_a_traceback(folder, text):
    fed(folder, "config", text)


@FUZZ
@given(text=MAPPING_INPUTS)
def test_any_mapping_text_is_loaded_or_refused_with_problems_never_a_traceback(folder, text):
    fed(folder, "mapping", text)


@settings(max_examples=examples(100), deadline=None)
@given(data=st.binary(max_size=300))
def test_any_bytes_as_a_config_or_a_mapping_are_refused_with_problems_never_a_traceback(
    folder, data
):
    path = folder / "bytes.yaml"
    path.write_bytes(data)
    outcome("config", path)
    outcome("mapping", path)


RULE_TYPES = st.sampled_from(["string", "decimal", "integer", "date", "datetime", "boolean"])


@FUZZ
@given(
    type_=RULE_TYPES,
    tz=st.sampled_from([None, "Europe/Paris", "Pacific/Kiritimati"]),
    value=scalars(MAPPING_VALUES),
    key=scalars(MAPPING_VALUES),
    lookback=scalars(MAPPING_VALUES),
)
def test_any_scalar_as_a_default_map_entry_or_lookback_is_loaded_or_refused(
    folder, type_, tz, value, key, lookback
):
    """The values a mapping parses at load (defaults and map entries, with the transform's own
    parser; the lookback) are where a value's type and range meet; random documents rarely reach
    them."""
    rule = {
        "from": "CloseDate",
        "type": type_,
        "default": value,
        "map": {key: value},
        "unmapped": "default",
        **({"tz": tz} if tz and type_ == "date" else {}),
    }
    mapping = {
        **VALID_MAPPING,
        "source": {**VALID_MAPPING["source"], "lookback": lookback},
        "project": {"fields": {**VALID_MAPPING["project"]["fields"], "end_date": rule}},
    }
    fed(folder, "mapping", yaml.safe_dump(mapping, allow_unicode=True))


NESTINGS = {
    "flow lists": ("[", "]"),
    "flow mappings": ("{a: ", "}"),
    "block lists": ("- ", ""),
    "parentheses": ("(", ")"),
    "NOTs": ("NOT ", ""),
}


# each example parses thousands of levels, twice
@settings(FUZZ, max_examples=max(1, FUZZ.max_examples // 3))
@given(depth=st.integers(0, 3000), style=st.sampled_from(sorted(NESTINGS)), closed=st.booleans())
def test_anything_nested_to_any_depth_is_loaded_or_refused(folder, depth, style, closed):
    """Nesting is recursion in PyYAML's composer and in the SOQL parser: deep enough, it was a
    RecursionError; a random document is never that deep, so the depth itself is drawn here."""
    opening, closing = NESTINGS[style]
    nested = opening * depth + "x" + (closing * depth if closed else "")
    if style in ("parentheses", "NOTs"):
        criteria = opening * depth + "IsWon = true" + (closing * depth if closed else "")
        text = yaml.safe_dump(
            {**VALID_MAPPING, "source": {**VALID_MAPPING["source"], "criteria": criteria}}
        )
    else:
        text = f"version: 1\nsource: {nested}\n" if opening != "- " else "source:\n" + nested
    fed(folder, "mapping", text)
    fed(folder, "config", text)
