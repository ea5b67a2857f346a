"""The config file (``psa-sync.yaml``): where it is, how it is read, and the settings it yields.

``settings`` holds the frozen dataclasses the rest of the code trusts, ``reader`` walks the raw
YAML (``${VAR}``, secrets, paths, durations) and ``loader`` says which sections and keys exist
and builds :class:`Settings`. Callers import from here, so the split stays an inner detail.
"""

from sync.common.errors import ConfigError
from sync.config.loader import DEFAULT_CONFIG_NAME, find_config, load_settings
from sync.config.reader import parse_at, parse_duration
from sync.config.settings import (
    At,
    Events,
    HttpConfig,
    Limits,
    Metrics,
    PsaConfig,
    Retention,
    SalesforceAuth,
    SalesforceConfig,
    Schedule,
    Secret,
    Settings,
)

__all__ = [
    "Settings",
    "SalesforceConfig",
    "SalesforceAuth",
    "PsaConfig",
    "Limits",
    "Schedule",
    "HttpConfig",
    "Secret",
    "load_settings",
    "find_config",
    "parse_duration",
    "DEFAULT_CONFIG_NAME",
    "ConfigError",
    "At",
    "Events",
    "Retention",
    "Metrics",
    "parse_at",
]
