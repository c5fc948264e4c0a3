"""Settings of the ЕГИСЗ adapter (``adapter_settings.egisz``)."""

from __future__ import annotations

from croniter import croniter
from pydantic import BaseModel, Field, field_validator


class EgiszSettings(BaseModel):
    model_config = {"extra": "forbid"}

    # The MOs the МИС client acts for. Requests never name the MO: it comes from here
    # (and, once clients authenticate, from each client's own configuration).
    mo_oids: list[str] = Field(default_factory=list)
    intake_cron: str = Field("0 6 * * *", description="when the daily intake runs (cron, server time zone UTC)")
    page_size: int = Field(500, ge=10, le=5000)
    first_window_hours: int = Field(24, ge=1, le=24 * 90, description="the first run's window, with no watermark yet")
    lookback_minutes: int = Field(60, ge=0, le=24 * 60,
                                  description="each run starts this long before the last run's end, so a task ЕГИСЗ "
                                              "shows late is still taken (a task taken twice changes nothing)")

    @field_validator("intake_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError("not a cron expression (minute hour day month weekday)")
        return value

    @field_validator("mo_oids")
    @classmethod
    def _oids(cls, value: list[str]) -> list[str]:
        for oid in value:
            if not oid.startswith("1.2.643.5.1.13.13.12.2."):
                raise ValueError(f"not an MO OID from ФРМО (1.2.643.5.1.13.13.12.2.<region>.<n>): {oid[:60]}")
        return value
