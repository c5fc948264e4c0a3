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

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup — a crash."""
        self.process.kill()
        self.process.wait(10)

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


def _wait_ready(bridge: BridgeProcess, url: str, ready_timeout: float) -> BridgeProcess:
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if bridge.process.poll() is not None:
            raise RuntimeError(f"process exited with {bridge.process.returncode}:\n{bridge.logs()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return bridge
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    bridge.stop()
    raise RuntimeError(f"not ready in {ready_timeout}s:\n{bridge.logs()[-3000:]}")


@dataclass
class SandboxProcess(BridgeProcess):
    bridge_config: dict[str, Any] = field(default_factory=dict)


def start_sandbox(tmp: Path, adapters: tuple[str, ...] = ("egisz",), ready_timeout: float = 30.0,
                  bridge_port: int | None = None, *, root: Path = ROOT, log_level: str | None = None) -> SandboxProcess:
    """Run ``bridge sandbox`` alone, so bridges can die and restart while the sandbox keeps its state.

    ``bridge_port``: where the bridge will listen (the sandboxes call it back: webhooks, ЕСИА return).
    ``root``: the source tree to run it from (the benchmarks run other commits' trees).
    """
    tmp.mkdir(parents=True, exist_ok=True)
    base = free_port_block(8)
    config_path = tmp / "sandbox.yaml"
    config: dict[str, Any] = {"adapters": list(adapters), "sandbox_base_port": base, "sandbox_dir": str(tmp / "keys"),
                              "sandbox": True, "host": "127.0.0.1"}
    if bridge_port is not None:
        config["port"] = bridge_port
    if log_level is not None:
        config["log_level"] = log_level
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    written = tmp / "bridge-upstreams.yaml"
    log_path = tmp / "sandbox.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "sandbox", "--config", str(config_path), "--write-config", str(written)],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + ready_timeout
    while not written.exists() and time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sandbox exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.1)
    bridge_config = yaml.safe_load(written.read_text(encoding="utf-8")) if written.exists() else {}
    urls = {name: u["base_url"] for name, u in bridge_config.get("upstreams", {}).items()}
    sandbox = SandboxProcess(url=next(iter(urls.values()), ""), sandbox_urls=urls, log_path=log_path,
                             process=process, env=env, bridge_config=bridge_config)
    _wait_ready(sandbox, f"{sandbox.url}/_sandbox/faults", ready_timeout)
    return sandbox


def start_bridge(
    tmp: Path,
    config: dict[str, Any] | None = None,
    database_url: str | None = None,
    sandbox_peers: tuple[str, ...] = ("esia",),
    ready_timeout: float = 30.0,
    sandbox: bool = True,
) -> BridgeProcess:
    """Run ``bridge serve [--sandbox]`` with a config written to ``tmp``; wait for /readyz."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = int((config or {}).get("port") or free_port())
    base = free_port_block(len(sandbox_peers) + 6)
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
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve", *(["--sandbox"] if sandbox else []),
             "--config", str(config_path)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    bridge = BridgeProcess(
        url=f"http://127.0.0.1:{port}",
        sandbox_urls={name: f"http://127.0.0.1:{base + i}" for i, name in enumerate(sandbox_peers)},
        log_path=log_path,
        process=process,
        env=env,
    )
    _wait_ready(bridge, f"{bridge.url}/readyz", ready_timeout)
    token = settings.get("admin_token")
    upstreams = httpx.get(f"{bridge.url}/admin/upstreams", timeout=5,
                          headers={"Authorization": f"Bearer {token}"} if token else {}).json()
    bridge.sandbox_urls = {name: u["base_url"] for name, u in upstreams.items()}
    return bridge
