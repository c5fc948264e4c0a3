"""The frozen WSDL in wsdl/ against the contract the code would serve, and against the lint rules."""

from __future__ import annotations

import difflib
from pathlib import Path

from bridge.adapters import load_adapter
from bridge.config import Settings
from bridge.soap import SoapService, canonical_contract, generated_wsdl, lint_contract


def _services(settings: Settings) -> list[SoapService]:
    services: list[SoapService] = []
    for name in settings.adapters:
        services.extend(load_adapter(name).soap_contracts(settings.wsdl_dir))
    return services


def _placeholder(service: SoapService) -> str:
    return f"http://localhost/soap/{service.name}"


def freeze(settings: Settings) -> list[str]:
    lines = []
    for service in _services(settings):
        body = generated_wsdl(service.application, _placeholder(service))
        service.wsdl_path.parent.mkdir(parents=True, exist_ok=True)
        old = service.wsdl_path.read_bytes() if service.wsdl_path.exists() else b""
        if old and canonical_contract(old) == canonical_contract(body):
            lines.append(f"{service.wsdl_path}: unchanged")
            continue
        service.wsdl_path.write_bytes(body)
        lines.append(f"{service.wsdl_path}: written")
    return lines


def drift(settings: Settings) -> list[str]:
    """Problems as text lines; empty when every frozen WSDL matches the code."""
    problems = []
    for service in _services(settings):
        if not service.wsdl_path.exists():
            problems.append(f"{service.wsdl_path}: missing (run `bridge wsdl freeze`)")
            continue
        frozen = canonical_contract(service.wsdl_path.read_bytes())
        served = canonical_contract(generated_wsdl(service.application, _placeholder(service)))
        if frozen != served:
            diff = difflib.unified_diff(
                frozen.decode().replace("><", ">\n<").splitlines(),
                served.decode().replace("><", ">\n<").splitlines(),
                "frozen", "code", lineterm="", n=1,
            )
            problems.append(
                f"{service.wsdl_path}: the code's contract differs from the frozen WSDL "
                "(an intentional change needs `bridge wsdl freeze`):\n" + "\n".join(list(diff)[:40])
            )
    return problems


def lint(paths: list[Path]) -> list[str]:
    """Each broken rule as ``file: rule: where: why``; empty when every contract passes."""
    problems = []
    for path in paths:
        try:
            source = path.read_bytes()
        except OSError as exc:
            problems.append(f"{path}: cannot be read: {exc.strerror}")
            continue
        problems.extend(f"{path}: {finding}" for finding in lint_contract(source))
    return problems
