"""The ЕСИА adapter as the core sees it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapters.esia._operations import RestAccountOperations
from adapters.esia._patients import PatientAccounts
from adapters.esia._service import build_service
from adapters.esia._settings import EsiaSettings
from bridge.adapters import AdapterContext
from bridge.sandbox._faults import ASGIApp
from bridge.soap import SoapService


class EsiaAdapter:
    name = "esia"
    upstreams = ("esia",)

    def check_settings(self, settings: dict[str, Any]) -> list[str]:
        try:
            EsiaSettings(**settings)
        except ValidationError as exc:
            return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return []

    def soap_services(self, context: AdapterContext) -> list[SoapService]:
        settings = EsiaSettings(**context.adapter_settings(self.name))
        operations = RestAccountOperations(context.upstream("esia"), settings.routing(), settings.poll())
        accounts = PatientAccounts(
            operations, context.mappings["esia.account"], context.journal, context.pseudonym
        )
        return [build_service(accounts, context.settings.wsdl_dir)]

    def soap_contracts(self, wsdl_dir: Path) -> list[SoapService]:
        return [build_service(None, wsdl_dir)]

    def sandbox_peers(self) -> dict[str, ASGIApp]:
        from adapters.esia.sandbox import create_sandbox_app

        return {"esia": create_sandbox_app()}

    def demo(self, bridge_url: str, sandbox_urls: dict[str, str], say: Callable[[str], None]) -> None:
        from adapters.esia._demo import run_demo

        run_demo(bridge_url, say)


adapter = EsiaAdapter()
