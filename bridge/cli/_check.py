"""`bridge check`: every problem in config, mappings and WSDL, each with where it is."""

from __future__ import annotations

from pathlib import Path

from bridge.adapters import load_adapter
from bridge.cli._contracts import drift
from bridge.cli._serve import with_sandbox_upstreams
from bridge.config import ConfigError, Settings
from bridge.mapping import check_directory
from bridge.signing import key_file_warnings, secret_files
from bridge.yamlfile import YamlDocument, load_yaml


def _where(doc: YamlDocument | None, path: tuple[str, ...]) -> str:
    """``file:line: `` of a setting in the YAML file, when it is there."""
    if doc is None:
        return ""
    line = doc.line_of(path) or doc.line_of(path[:2])
    return f"{doc.file}:{line}: " if line else ""


def check_all(settings: Settings, config_file: Path | None = None) -> list[str]:
    problems: list[str] = []
    doc = load_yaml(config_file) if config_file is not None and config_file.exists() else None
    if settings.sandbox:   # check what `serve --sandbox` would run: the sandboxes' settings merged in
        try:
            settings = with_sandbox_upstreams(settings)[0]
        except ConfigError as exc:   # an adapter that cannot be loaded: nothing more to check
            return exc.problems
    for name in settings.adapters:
        try:
            adapter = load_adapter(name)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        for problem in adapter.check_settings(settings.adapter_settings.get(name, {})):
            field = problem.split(":", 1)[0]
            where = _where(doc, ("adapter_settings", name, *field.split(".")))
            problems.append(f"{where}adapter_settings.{name}.{problem}")
        if not settings.sandbox:
            for upstream in adapter.upstreams:
                if upstream not in settings.upstreams:
                    problems.append(f"upstreams.{upstream}.base_url: required by adapter '{name}' "
                                    "(or run with --sandbox)")
    problems.extend(str(p) for p in check_directory(settings.mappings_dir))
    if not problems:
        problems.extend(drift(settings))
    return problems


def check_warnings(settings: Settings) -> list[str]:
    """What is allowed but unsafe in production: said, not failed."""
    warnings = key_file_warnings(secret_files(settings.model_dump()))
    if not settings.sandbox:
        if not settings.clients:
            warnings.append("clients: no МИС clients configured: the SOAP faces accept any caller as 'anonymous' "
                            "(docs/security.md)")
        if settings.metrics_token_value() is None:
            warnings.append("metrics_token_file: not set: /metrics is readable by anyone who reaches the bridge")
    return warnings
