"""Shared machinery of the sandbox peers: fault injection and running them on loopback."""

from bridge.sandbox._faults import (
    FAULT_KINDS,
    PROCESSED_KINDS,
    FaultInjector,
    FaultPlan,
    FaultResponse,
    FaultSettings,
    fault_admin_routes,
)

__all__ = ["FAULT_KINDS", "PROCESSED_KINDS", "FaultInjector", "FaultPlan", "FaultResponse", "FaultSettings",
           "fault_admin_routes"]
