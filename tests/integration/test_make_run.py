"""``make run`` beside another bridge: two run at once, each with its own sandbox peers on free ports;
a third on a port that is taken stops at once with one line naming the setting, and harms neither.

The command is the one the Makefile runs (``make -n run PORT=…``), in a directory of its own and
without any configuration, as a new user runs it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.bridgeproc import ROOT, BridgeProcess, _wait_ready, free_port


def make_run_command(port: int) -> list[str]:
    """What ``make run PORT=port`` runs last (the bridge), as an argument list."""
    dry = subprocess.run(["make", "-n", "-s", "run", f"PORT={port}"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()
    words = shlex.split(dry[-1])
    assert words[0].endswith("/bridge") and "serve" in words, dry
    return [str(ROOT / words[0]), *words[1:]]


def _start(where: Path, port: int) -> BridgeProcess:
    where.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env["PYTHONUNBUFFERED"] = "1"
    log_path = where / "bridge.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(make_run_command(port), cwd=where, env=env, stdout=log, stderr=subprocess.STDOUT)
    return BridgeProcess(url=f"http://127.0.0.1:{port}", sandbox_urls={}, log_path=log_path, process=process, env=env)


@pytest.fixture
def two_bridges(tmp_path: Path) -> Iterator[tuple[BridgeProcess, BridgeProcess]]:
    first = _start(tmp_path / "first", free_port())
    second = _start(tmp_path / "second", free_port())
    try:
        for bridge in (first, second):
            _wait_ready(bridge, f"{bridge.url}/readyz", 90.0)
            upstreams = httpx.get(f"{bridge.url}/admin/upstreams", timeout=5).json()
            bridge.sandbox_urls = {name: u["base_url"] for name, u in upstreams.items()}
        yield first, second
    finally:
        first.stop()
        second.stop()


def test_make_run_beside_a_running_bridge_serves_its_own_sandboxes(
    two_bridges: tuple[BridgeProcess, BridgeProcess],
) -> None:
    first, second = two_bridges
    assert set(first.sandbox_urls) >= {"esia", "egisz", "max"}
    assert set(first.sandbox_urls.values()).isdisjoint(second.sandbox_urls.values())
    for bridge in (first, second):
        for name, url in bridge.sandbox_urls.items():   # each peer answers where the bridge's config says
            assert httpx.get(f"{url}/_sandbox/faults", timeout=5).status_code == 200, (name, url)
            assert f'"url": "{url}"' in bridge.logs(), f"sandbox.peer {name} not logged"
        assert "Traceback" not in bridge.logs()


def test_a_bridge_on_a_taken_port_stops_at_once_with_one_line(
    two_bridges: tuple[BridgeProcess, BridgeProcess], tmp_path: Path,
) -> None:
    first, _ = two_bridges
    port = int(first.url.rsplit(":", 1)[1])
    started = time.monotonic()
    third = subprocess.run(make_run_command(port), cwd=tmp_path, capture_output=True, text=True, timeout=60,
                           env=first.env, check=False)
    output = third.stdout + third.stderr
    assert third.returncode == 1, output
    assert "Traceback" not in output
    assert f"port: cannot listen on 127.0.0.1:{port}" in output and "--port" in output, output
    assert [line for line in output.splitlines() if not line.startswith("{")] == [
        line for line in output.splitlines() if "cannot listen" in line], output
    assert time.monotonic() - started < 30
    assert not (tmp_path / "var").exists(), "started something (a store, sandbox keys) before binding its port"
    assert httpx.get(f"{first.url}/readyz", timeout=5).status_code == 200
