"""Configuration: BRIDGE_* environment, an optional YAML file, secrets from files."""

from bridge.config._settings import (
    ConfigError,
    Settings,
    UpstreamSettings,
    load_settings,
    upstream_url_hint,
)

__all__ = ["ConfigError", "Settings", "UpstreamSettings", "load_settings", "upstream_url_hint"]
