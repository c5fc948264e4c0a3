"""Running a signing tool (openssl, csptest, cryptcp) with secrets kept out of every error message."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from bridge.signing._errors import SigningError

__all__ = ["run_tool", "scrub"]

_STDERR_TAIL = 600


def scrub(text: str, secrets: Sequence[str]) -> str:
    """Replace every occurrence of a secret with ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def run_tool(
    argv: Sequence[str],
    *,
    what: str,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    secrets: Sequence[str] = (),
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> bytes:
    """Run ``argv`` and return its stdout; any failure is a :class:`SigningError` naming ``what``.

    ``env`` is added to the current environment. The error carries the exit code and the end of
    stderr with ``secrets`` masked — never the command line, which may hold a PIN.
    """
    try:
        completed = subprocess.run(
            list(argv),
            input=stdin if stdin is not None else b"",
            capture_output=True,
            env={**os.environ, **env} if env else None,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise SigningError(f"{what}: executable {argv[0]!r} not found") from None
    except subprocess.TimeoutExpired:
        raise SigningError(f"{what}: no answer within {timeout:g} s") from None
    except OSError as exc:
        raise SigningError(f"{what}: cannot run {argv[0]!r}: {exc.strerror}") from None
    if completed.returncode != 0:
        stderr = scrub(completed.stderr.decode("utf-8", "replace"), secrets).strip()
        detail = stderr[-_STDERR_TAIL:] if stderr else "no message"
        raise SigningError(f"{what} failed (exit {completed.returncode}): {detail}")
    return bytes(completed.stdout)
