"""``adapter_settings.max``: the bot, the МИС schedule, the consultation platform."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

DEFAULT_CONDITIONS = (
    "Консультация проходит дистанционно, с применением телемедицинских технологий "
    "(приказ Минздрава России № 965н). За 15 минут до начала бот пришлёт ссылку на чат консультации. "
    "Врач может задать вопросы, посмотреть результаты обследований и дать рекомендации; "
    "диагноз и лечение по итогам дистанционной консультации назначаются с учётом ранее проведённого очного приёма. "
    "Для участия нужен вход через Госуслуги: данные пользователя должны совпадать с данными пациента "
    "или его законного представителя (ФИО, дата рождения, СНИЛС)."
)
DEFAULT_GOALS = ["Консультация по результатам обследования", "Повторная консультация",
                 "Закрытие листка нетрудоспособности"]


def _secret(value: SecretStr | None, path: Path | None, name: str) -> str:
    if path is not None:
        return path.read_text(encoding="utf-8").strip()
    if value is not None:
        return value.get_secret_value()
    raise ValueError(f"{name}: not set (give {name} or {name}_file)")


class ScheduleSettings(BaseModel):
    """The МИС schedule (HubService contract): where the service is and the client guid it issued."""

    model_config = ConfigDict(extra="forbid")
    endpoint: str = "/hubservice"
    guid: SecretStr | None = None
    guid_file: Path | None = None
    days_ahead: int = Field(14, ge=1, le=60)

    def guid_value(self) -> str:
        return _secret(self.guid, self.guid_file, "schedule.guid")


class SferumSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: SecretStr | None = None
    token_file: Path | None = None
    api_version: str = "5.199"

    def token_value(self) -> str:
        return _secret(self.token, self.token_file, "sferum.token")


class TmkSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: SecretStr | None = None                    # the MAX bot token (prefer token_file)
    token_file: Path | None = None
    webhook_secret: SecretStr | None = None           # X-Max-Bot-Api-Secret, 5..256 of [a-zA-Z0-9_-]
    webhook_secret_file: Path | None = None
    public_url: str = Field(description="the bridge as MAX and browsers reach it, e.g. https://bridge.example.ru")
    subscribe_on_start: bool = True                   # POST /subscriptions for {public_url}/max/webhook
    rate_per_second: float = Field(27.0, gt=0, le=30)
    goals: list[str] = Field(default_factory=lambda: list(DEFAULT_GOALS))
    conditions: str = DEFAULT_CONDITIONS
    timezone: str = "Europe/Moscow"                    # the МИС schedule's local time
    dialog_ttl_minutes: int = Field(30, ge=1, le=24 * 60)
    link_ttl_minutes: int = Field(15, ge=1, le=24 * 60)
    consultation_platform: Literal["max", "sferum"] = "max"
    max_chats: list[int] = Field(default_factory=list)   # pre-created MAX groups where the bot is admin
    schedule: ScheduleSettings = Field(default_factory=lambda: ScheduleSettings(days_ahead=14))
    sferum: SferumSettings | None = None

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone (use an IANA name such as Europe/Moscow)") from None
        return value

    @field_validator("goals")
    @classmethod
    def _goals(cls, value: list[str]) -> list[str]:
        return [g.strip() for g in value if g.strip()]

    @model_validator(mode="after")
    def _platform(self) -> TmkSettings:
        if self.consultation_platform == "sferum" and self.sferum is None:
            raise ValueError("consultation_platform: sferum needs the sferum section (token)")
        if self.token is None and self.token_file is None:
            raise ValueError("token: the MAX bot token is not set (give token_file)")
        secret = self.webhook_secret_value()
        if secret is not None and not (5 <= len(secret) <= 256 and all(c.isalnum() or c in "_-" for c in secret)):
            raise ValueError("webhook_secret: 5..256 characters of a-z, A-Z, 0-9, _ and - (MAX's rule)")
        return self

    def token_value(self) -> str:
        return _secret(self.token, self.token_file, "token")

    def webhook_secret_value(self) -> str | None:
        if self.webhook_secret is None and self.webhook_secret_file is None:
            return None
        return _secret(self.webhook_secret, self.webhook_secret_file, "webhook_secret")
