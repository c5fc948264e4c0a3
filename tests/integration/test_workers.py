"""`bridge serve --workers 2`: one socket, two worker processes, one answer on /metrics."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.bridgeproc import ROOT, SandboxProcess, free_port, start_sandbox
from tests.conftest import make_patient
from tests.soapcall import call, envelope

WORKERS = 2


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = start_sandbox(tmp_path_factory.mktemp("sandbox"), adapters=("esia",))
    yield process
    process.stop()


def _serve(tmp: Path, sandbox: SandboxProcess) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    config = {"port": port, "database_url": f"sqlite:///{tmp / 'bridge.db'}", "adapters": ["esia"],
              "pseudonym_key": "integration-test-pseudonym-key-0123456789", "sandbox_dir": str(tmp / "sandbox"),
              **sandbox.bridge_config}
    (tmp / "bridge.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "PROMETHEUS_MULTIPROC"))}
    log = tmp / "bridge.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve", "--config", str(tmp / "bridge.yaml"), "--workers", str(WORKERS)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}", log


def _workers_started(log: Path) -> list[dict[str, Any]]:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return [json.loads(line) for line in lines if '"bridge.worker"' in line]


def test_workers_share_the_socket_the_metrics_and_one_set_of_background_work(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    process, url, log = _serve(tmp_path, sandbox)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            if len(_workers_started(log)) == WORKERS:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        else:
            pytest.fail(f"not ready:\n{log.read_text()}")
        started = _workers_started(log)
        assert len({worker["pid"] for worker in started}) == WORKERS
        assert [worker["background"] for worker in started].count(True) == 1, started

        calls = 20
        for _ in range(calls):  # a new connection each time: the kernel spreads them over the workers
            answer = call(f"{url}/soap/esia-accounts", "CheckPatient", envelope("CheckPatient", make_patient()),
                          soap_action='"CheckPatient"')
            assert answer.status == 200, answer.body
        pattern = re.compile(r'^bridge_soap_requests_total\{operation="CheckPatient",outcome="ok",'
                             r'service="esia-accounts"\} (\S+)$', re.M)
        for _ in range(6):  # whichever worker answers the scrape, it answers for both
            scraped = httpx.get(f"{url}/metrics", timeout=5).text
            assert [float(v) for v in pattern.findall(scraped)] == [calls], scraped[:3000]
            assert "bridge_outbox_messages{" in scraped  # computed from the store, once
            assert len(re.findall(r"^# TYPE bridge_outbox_messages gauge$", scraped, re.M)) == 1
        wsdl = httpx.get(f"{url}/soap/esia-accounts?wsdl", timeout=5)
        assert wsdl.status_code == 200 and b"</wsdl:definitions>" in wsdl.content
    finally:
        process.terminate()
        process.wait(30)
    assert process.returncode == 0, log.read_text()[-3000:]
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    assert children == []


def test_workers_refuse_to_serve_the_sandbox_too(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bridge", "serve", "--sandbox", "--workers", "2"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")})
    assert done.returncode != 0
    assert "bridge sandbox --write-config" in done.stdout + done.stderr
