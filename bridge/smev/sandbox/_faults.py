"""The sandbox СМЭВ node's injected faults: the network ones every sandbox takes, the node's own SOAP faults
(``SMEVFailure``, ``DestinationOverflow``), and which operations they may hit.

The generic middleware (``bridge.sandbox.FaultInjector``) cannot see the operation: it is the SOAP Body's
first child. So a :class:`SmevFaultPlan` draws nothing for the middleware (which still adds the latency);
the node's exchange reads the operation, asks :meth:`SmevFaultPlan.draw_for`, and answers the drawn fault
itself (``bridge.sandbox.FaultResponse`` for the network kinds, the SOAP fault for the node's own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field

from bridge.sandbox import FAULT_KINDS, FaultPlan, FaultSettings

__all__ = ["OPERATIONS", "SMEV_FAULT_KINDS", "SmevFaultPlan", "SmevFaultSettings"]

SMEV_FAULT_KINDS = ("SMEVFailure", "DestinationOverflow")


class SmevFaultSettings(FaultSettings):
    operations: list[str] = Field(default_factory=list)
OPERATIONS = ("SendRequest", "GetResponse", "Ack")


@dataclass
class SmevFaultPlan(FaultPlan):
    """A fault plan that also draws the node's own faults, for the operations in ``operations`` (empty:
    every call, even one that names no operation)."""

    kinds: tuple[str, ...] = FAULT_KINDS + SMEV_FAULT_KINDS
    operations: tuple[str, ...] = ()

    def configure(self, rate: float, kinds: tuple[str, ...], stall_seconds: float, seed: int | None,
                  latency_seconds: float = 0.0, operations: tuple[str, ...] = ()) -> None:
        known = FAULT_KINDS + SMEV_FAULT_KINDS
        unknown = set(kinds) - set(known)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        strangers = set(operations) - set(OPERATIONS)
        if strangers:
            raise ValueError(f"unknown operations: {sorted(strangers)}; one of {', '.join(OPERATIONS)}")
        network = tuple(k for k in kinds if k in FAULT_KINDS)
        super().configure(rate, network or FAULT_KINDS, stall_seconds, seed, latency_seconds)
        with self._lock:
            self.kinds = kinds or known
            self.operations = operations

    def apply(self, settings: FaultSettings) -> None:
        operations = tuple(settings.operations) if isinstance(settings, SmevFaultSettings) else ()
        self.configure(settings.rate, tuple(settings.kinds), settings.stall_seconds, settings.seed,
                       settings.latency_seconds, operations)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "operations": list(self.operations)}

    def draw(self) -> str | None:
        """Nothing for the middleware: the node draws per operation (:meth:`draw_for`)."""
        return None

    def draw_for(self, operation: str) -> str | None:
        """The fault for one call of ``operation`` (a name of ``OPERATIONS``, or "" when the call names none)."""
        if self.operations and operation not in self.operations:
            return None
        return super().draw()


SmevFaultPlan.settings_model = SmevFaultSettings
