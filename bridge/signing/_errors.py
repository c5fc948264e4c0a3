"""The one exception of :mod:`bridge.signing`."""

from __future__ import annotations

__all__ = ["SigningError"]


class SigningError(Exception):
    """Anything that went wrong while loading a key or certificate, signing, or running a signing tool.

    Messages name the file, the tool and what failed; they never carry key material or passwords.
    """
