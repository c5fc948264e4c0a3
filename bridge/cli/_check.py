"""`bridge check`: every problem in config, mappings and WSDL, each with where it is."""

from __future__ import annotations

from bridge.adapters import load_adapter
from bridge.cli._contracts import drift
from bridge.config import ConfigError, Settings
from bridge.mapping import check_directory


def check_all(settings: Settings) -> list[str]:
    problems: list[str] = []
    for name in settings.adapters:
        try:
            adapter = load_adapter(name)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        for problem in adapter.check_settings(settings.adapter_settings.get(name, {})):
            problems.append(f"adapter_settings.{name}.{problem}")
        if not settings.sandbox:
            for upstream in adapter.upstreams:
                if upstream not in settings.upstreams:
                    problems.append(f"upstreams.{upstream}.base_url: required by adapter '{name}' "
                                    "(or run with --sandbox)")
    problems.extend(str(p) for p in check_directory(settings.mappings_dir))
    if not problems:
        problems.extend(drift(settings))
    return problems
