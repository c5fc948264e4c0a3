"""Start a real bridge process (with its sandbox peers) on loopback for integration tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_block(size: int) -> int:
    """A base port with ``size`` consecutive free ports."""
    for _ in range(50):
        base = free_port()
        if base + size > 65000:
            continue
        ok = True
        for port in range(base, base + size):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port block")


@dataclass
class BridgeProcess:
    url: str
    sandbox_urls: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str] = field(repr=False, default_factory=dict)

    def wsdl_url(self, service: str) -> str:
        return f"{self.url}/soap/{service}?wsdl"

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def sandbox(self, upstream: str) -> httpx.Client:
        return httpx.Client(base_url=self.sandbox_urls[upstream], timeout=10)


def start_bridge(
    tmp: Path,
    config: dict[str, Any] | None = None,
    database_url: str | None = None,
    sandbox_peers: tuple[str, ...] = ("esia",),
    ready_timeout: float = 30.0,
) -> BridgeProcess:
    """Run ``bridge serve --sandbox`` with a config written to ``tmp``; wait for /readyz."""
    port = free_port()
    base = free_port_block(len(sandbox_peers) + 1)
    settings: dict[str, Any] = {
        "port": port,
        "sandbox_base_port": base,
        "database_url": database_url or f"sqlite:///{tmp / 'bridge.db'}",
        "pseudonym_key": "integration-test-pseudonym-key-0123456789",
        "sandbox_dir": str(tmp / "sandbox"),
    }
    settings.update(config or {})
    config_path = tmp / "bridge.yaml"
    config_path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    log_path = tmp / "bridge.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env["PYTHONUNBUFFERED"] = "1"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve", "--sandbox", "--config", str(config_path)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    bridge = BridgeProcess(
        url=f"http://127.0.0.1:{port}",
        sandbox_urls={name: f"http://127.0.0.1:{base + i}" for i, name in enumerate(sandbox_peers)},
        log_path=log_path,
        process=process,
        env=env,
    )
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bridge exited with {process.returncode}:\n{bridge.logs()[-3000:]}")
        try:
            if httpx.get(f"{bridge.url}/readyz", timeout=1).status_code == 200:
                return bridge
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    bridge.stop()
    raise RuntimeError(f"bridge not ready in {ready_timeout}s:\n{bridge.logs()[-3000:]}")
