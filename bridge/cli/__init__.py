"""The ``bridge`` command line."""

from bridge.cli._main import app, main

__all__ = ["app", "main"]
