"""The sandbox MAX Bot API: plays MAX on loopback for development, demos and tests."""

from adapters.max.sandbox._app import create_sandbox_app
from adapters.max.sandbox._openapi import OpenApiChecker, RequestInvalid
from adapters.max.sandbox._world import BOT_USER, BOT_USER_ID, MaxWorld, SandboxChat

__all__ = [
    "BOT_USER", "BOT_USER_ID", "MaxWorld", "OpenApiChecker", "RequestInvalid", "SandboxChat", "create_sandbox_app",
]
