"""The sandbox Sferum: plays ``educationSchool.*`` on loopback for development, demos and tests."""

from adapters.sferum.sandbox._app import ERROR_MESSAGES, create_sferum_sandbox
from adapters.sferum.sandbox._world import SANDBOX_TOKEN, SandboxChat, SandboxMember, SferumWorld

__all__ = ["ERROR_MESSAGES", "SANDBOX_TOKEN", "SandboxChat", "SandboxMember", "SferumWorld", "create_sferum_sandbox"]
