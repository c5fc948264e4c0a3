"""Control API of the sandbox reg_service (never faulted): how it answers, and what it "sent" to people.

    GET/PUT /_sandbox/reg-service         {"delay_seconds", "interim_validating", "unconfirmable_snils",
                                           "faulty_snils"}: the answer delay (0 for benchmarks), VALIDATING
                                           first for writes, SNILS that СФР does not confirm / that fail
    GET     /_sandbox/reg-service/outbox  the first-login passwords sent, newest last (test data only)
    GET     /_sandbox/reg-service/stats   answers counted by "<kind>:<status>"
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from adapters.esia.sandbox._reg_service import RegService

__all__ = ["reg_service_routes"]


class RegServiceSettings(BaseModel):
    delay_seconds: float = Field(1.0, ge=0.0, le=600.0)
    interim_validating: bool = False
    unconfirmable_snils: list[str] = Field(default_factory=list)
    faulty_snils: list[str] = Field(default_factory=list)


def reg_service_routes(service: RegService) -> APIRouter:
    router = APIRouter(prefix="/_sandbox/reg-service")

    @router.get("")
    def get_settings() -> dict[str, Any]:
        return {"delay_seconds": service.delay_seconds, "interim_validating": service.interim_validating,
                "unconfirmable_snils": sorted(service.unconfirmable_snils),
                "faulty_snils": sorted(service.faulty_snils)}

    @router.put("")
    def put_settings(settings: RegServiceSettings) -> dict[str, Any]:
        service.delay_seconds = settings.delay_seconds
        service.interim_validating = settings.interim_validating
        service.unconfirmable_snils = frozenset(settings.unconfirmable_snils)
        service.faulty_snils = frozenset(settings.faulty_snils)
        return get_settings()

    @router.get("/outbox")
    def outbox() -> list[dict[str, Any]]:
        return [{"oid": sent.oid, "channel": sent.channel, "address": sent.address, "password": sent.password}
                for sent in service.outbox]

    @router.get("/stats")
    def stats() -> dict[str, int]:
        return dict(service.answered)

    return router
