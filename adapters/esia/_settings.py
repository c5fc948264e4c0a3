"""Settings of the ЕСИА adapter (section ``adapter_settings.esia`` of the config)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator

from adapters.esia._operations import PollPolicy, Routing


class EsiaSettings(BaseModel):
    model_config = {"extra": "forbid"}

    routing_code: str = Field("DEV", description="СМЭВ EnvType: DEV, UAT, TESIA, TCOD or PROD")
    # The service-centre operator's SNILS (xxx-xxx-xxx xx) and the centre's ЕСИА oid.
    # The default is the ЕСИА test stand's operator from public СМЭВ samples.
    operator_snils: SecretStr = SecretStr("000-000-600 06")
    ra: int = Field(1000000001, gt=0)
    poll_budget_seconds: float = Field(20.0, gt=0)

    @field_validator("routing_code")
    @classmethod
    def _routing(cls, value: str) -> str:
        if value not in {"DEV", "UAT", "TESIA", "TCOD", "PROD"}:
            raise ValueError("must be one of DEV, UAT, TESIA, TCOD, PROD")
        return value

    def routing(self) -> Routing:
        return Routing(self.routing_code, self.operator_snils.get_secret_value(), self.ra)

    def poll(self) -> PollPolicy:
        return PollPolicy(budget_seconds=self.poll_budget_seconds)
