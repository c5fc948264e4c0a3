"""The ЕГИСЗ «Прикрепление онлайн» adapter as the core sees it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from adapters.egisz import _metrics
from adapters.egisz._applications import Applications
from adapters.egisz._client import RestAttachmentUpstream
from adapters.egisz._facade import Attachments
from adapters.egisz._intake import JOB, Intake
from adapters.egisz._replies import Replies
from adapters.egisz._service import build_service
from adapters.egisz._settings import EgiszSettings
from bridge.adapters import AdapterContext, SandboxPeers, SharedKey
from bridge.scheduling import Job
from bridge.soap import SoapService

UPSTREAM = "egisz"
SANDBOX_MO = "1.2.643.5.1.13.13.12.2.22.1234"
_FACADE: SharedKey[Attachments] = SharedKey("egisz.facade")


class EgiszAdapter:
    name = "egisz"
    upstreams = (UPSTREAM,)
    migrations = (Path(__file__).with_name("migrations"),)

    def required_upstreams(self, settings: dict[str, Any]) -> tuple[str, ...]:
        return self.upstreams

    def check_settings(self, settings: dict[str, Any]) -> list[str]:
        try:
            EgiszSettings(**settings)
        except ValidationError as exc:
            return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return []

    def facade(self, context: AdapterContext) -> Attachments:
        def build() -> Attachments:
            settings = EgiszSettings(**context.adapter_settings(self.name))
            upstream = RestAttachmentUpstream(context.upstream(UPSTREAM))
            applications = Applications(context.mappings["egisz.application"])
            replies = Replies(context.store, context.outbox, applications, upstream)
            intake = Intake(context.store, upstream, applications, tuple(settings.mo_oids), settings.page_size,
                            timedelta(hours=settings.first_window_hours), timedelta(minutes=settings.lookback_minutes))
            context.scheduler.add(Job(JOB, settings.intake_cron, intake.run, intake.window))
            _metrics.register(context.store)
            return Attachments(context.store, applications, replies, context.outbox, context.scheduler,
                               tuple(settings.mo_oids))

        return context.shared(_FACADE, build)

    def soap_services(self, context: AdapterContext) -> list[SoapService]:
        return [build_service(self.facade(context), context.settings.wsdl_dir)]

    def soap_contracts(self, wsdl_dir: Path) -> list[SoapService]:
        return [build_service(None, wsdl_dir)]

    def http_routes(self, context: AdapterContext) -> list[APIRouter]:
        router = APIRouter(prefix="/admin/egisz")

        @router.post("/intake", include_in_schema=False)
        def run_intake(since: str | None = None, until: str | None = None) -> JSONResponse:
            """Run the intake now (admin API); ``since``/``until`` as ДД.ММ.ГГГГ or ISO."""
            run = self.facade(context).run_intake(since, until, trigger="admin")  # errors: bridge.app's handler
            return JSONResponse({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in run.items()})

        return [router]

    def sandbox_peers(self, workdir: Path, bridge_url: str) -> SandboxPeers:
        from adapters.egisz.sandbox import BatchSpec, EgiszRegistry, create_egisz_sandbox  # with --sandbox only

        registry = EgiszRegistry(mos=(SANDBOX_MO,))
        now = datetime.now(UTC)
        # A day of the region's applications, waiting for the first intake.
        registry.generate(BatchSpec(mos=(SANDBOX_MO,), start=now - timedelta(hours=20), end=now - timedelta(minutes=5),
                                    count=40, seed=2, cancellation_share=0.2, detachment_share=0.15))
        return SandboxPeers(apps={UPSTREAM: create_egisz_sandbox(registry)},
                            adapter_settings={"mo_oids": [SANDBOX_MO]})

    def demo(self, bridge_url: str, sandbox_urls: dict[str, str], say: Callable[[str], None]) -> None:
        from adapters.egisz._demo import run_demo  # demo code loads only for `bridge demo`

        run_demo(bridge_url, say, sandbox_urls)


adapter = EgiszAdapter()
