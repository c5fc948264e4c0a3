"""The sandbox ЕГИСЗ «Прикрепление онлайн»: plays the federal service on loopback for development and tests.

    registry = EgiszRegistry(mos=["1.2.643.5.1.13.13.12.2.22.1234"])
    app = create_egisz_sandbox(registry, FaultPlan())      # an ASGI app (FastAPI inside FaultInjector)
    registry.generate(BatchSpec(mos=(...), start=..., end=..., count=100_000, seed=1))
"""

from adapters.egisz.sandbox._app import create_egisz_sandbox
from adapters.egisz.sandbox._generator import Batch, BatchSpec, enp_check_digit, generate_applications
from adapters.egisz.sandbox._paging import DEFAULT_LIMIT, MAX_LIMIT
from adapters.egisz.sandbox._registry import EgiszRegistry, IdempotencyConflict, TaskNotFound
from adapters.egisz.sandbox._rules import (
    OUTCOME_STATUS,
    REQUIRED_FIELDS,
    ReplyMalformed,
    ReplyRefused,
)

__all__ = [

    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "OUTCOME_STATUS",
    "REQUIRED_FIELDS",
    "Batch",
    "BatchSpec",
    "EgiszRegistry",
    "IdempotencyConflict",
    "ReplyMalformed",
    "ReplyRefused",
    "TaskNotFound",
    "create_egisz_sandbox",
    "enp_check_digit",
    "generate_applications",
]
