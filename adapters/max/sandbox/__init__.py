"""The sandbox MAX Bot API: plays MAX on loopback for development, demos and tests."""

from adapters.max.sandbox._app import create_sandbox_app
from adapters.max.sandbox._openapi import OpenApiChecker, RequestInvalid
from adapters.max.sandbox._world import BOT_USER, MaxWorld

__all__ = ["BOT_USER", "MaxWorld", "OpenApiChecker", "RequestInvalid", "create_sandbox_app"]
