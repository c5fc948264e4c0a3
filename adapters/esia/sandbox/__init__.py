"""The sandbox ЕСИА: plays the upstream on loopback for development, demos and tests."""

from adapters.esia.sandbox._app import create_sandbox_app
from adapters.esia.sandbox._registry import AccountRegistry

__all__ = ["AccountRegistry", "create_sandbox_app"]
