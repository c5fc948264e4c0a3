"""The sandbox MAX alone as a real process on loopback (uvicorn), for tests that need a real socket."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.bridgeproc import ROOT, free_port


@contextmanager
def sandbox_max_process(tmp: Path, ready_timeout: float = 30.0) -> Iterator[str]:
    """``uvicorn adapters.max.sandbox:create_sandbox_app --factory`` on a free port; yields its URL."""
    port = free_port()
    log_path = tmp / "sandbox-max.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "adapters.max.sandbox:create_sandbox_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            try:
                if httpx.get(f"{url}/_sandbox/faults", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox MAX did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
