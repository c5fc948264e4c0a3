"""Processes for the benchmarks: the sandbox peers on their own, and bridges from any source tree.

The sandbox ЕСИА runs as its own process (``bridge sandbox --write-config``), so the bridge's
CPU time is the bridge's alone. A bridge is started from a source tree: this checkout, or a
``git archive`` of an earlier commit (the baseline), so that both can be measured side by side
in one run against the same sandbox.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.bridgeproc import SandboxProcess, free_port, start_sandbox  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")

__all__ = ["Bridge", "SandboxProcess", "export_tree", "process_tree", "start_bridge_from", "start_sandbox_from",
           "wait_quiet"]


def export_tree(ref: str, dest: Path) -> Path:
    """The source tree of commit ``ref`` (git archive), unpacked into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest.with_suffix(".tar")
    subprocess.run(["git", "archive", "--format=tar", "-o", str(archive), ref], cwd=ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    archive.unlink()
    return dest


def start_sandbox_from(root: Path, tmp: Path, adapters: tuple[str, ...], ready_timeout: float = 60.0) -> SandboxProcess:
    """``bridge sandbox --write-config`` from the tree at ``root``, logging at WARNING (tests/bridgeproc.py)."""
    return start_sandbox(tmp, adapters, ready_timeout, root=root, log_level="WARNING")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(stat[1]), []).append(int(entry.name))
    return tree


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (a multi-worker bridge is a supervisor and its workers)."""
    tree, found, queue = _children(), [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(tree.get(current, []))
    return found


def _stat_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _status(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Bridge:
    """A running ``bridge serve`` (supervisor and workers) started from ``root``."""

    label: str
    url: str
    root: Path
    workers: int
    process: subprocess.Popen[bytes]
    log_path: Path
    ready_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def pids(self) -> list[int]:
        return process_tree(self.pid)

    def cpu_seconds(self) -> float:
        return sum(_stat_cpu(p) for p in self.pids())

    def rss_mb(self) -> tuple[float, float]:
        """(largest single process, sum over the tree) resident memory in MB."""
        sizes = [_status(p, "VmRSS") / 1024 for p in self.pids()]
        return (max(sizes, default=0.0), sum(sizes))

    def threads(self) -> int:
        return sum(_status(p, "Threads") for p in self.pids())

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_bridge_from(
    root: Path,
    tmp: Path,
    label: str,
    sandbox: SandboxProcess,
    *,
    workers: int = 1,
    adapters: tuple[str, ...] = ("esia",),
    log_level: str = "WARNING",
    ready_timeout: float = 60.0,
    extra: dict[str, Any] | None = None,
) -> Bridge:
    """``bridge serve`` from the tree at ``root`` (its own code: cwd comes first on sys.path),
    pointed at the out-of-process sandbox; waits for /readyz. ``extra``: settings merged on top
    (a dict value is merged one level down, e.g. one upstream's ``max_connections``)."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    settings: dict[str, Any] = {
        "port": port,
        "database_url": f"sqlite:///{tmp / 'bridge.db'}",
        "pseudonym_key": "bench-pseudonym-key-0123456789abcdef",
        "sandbox_dir": str(tmp / "sandbox"),
        "log_level": log_level,
        "adapters": list(adapters),
        **sandbox.bridge_config,
    }
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key] = {**settings[key], **{k: ({**settings[key].get(k, {}), **v} if isinstance(v, dict) else v)
                                                 for k, v in value.items()}}
        else:
            settings[key] = value
    config_path = tmp / "bridge.yaml"
    config_path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    log_path = tmp / "bridge.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "PROMETHEUS_MULTIPROC"))}
    env["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, "-m", "bridge", "serve", "--config", str(config_path)]
    if workers != 1:
        command += ["--workers", str(workers)]
    started = time.monotonic()
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    bridge = Bridge(label=label, url=f"http://127.0.0.1:{port}", root=root, workers=workers, process=process,
                    log_path=log_path)
    deadline = started + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{label}: bridge exited with {process.returncode}:\n{bridge.logs()[-3000:]}")
        try:
            if httpx.get(f"{bridge.url}/readyz", timeout=1).status_code == 200:
                bridge.ready_s = time.monotonic() - started
                # every worker up: as many distinct worker pids as asked for
                _wait_workers(bridge, deadline)
                return bridge
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    bridge.stop()
    raise RuntimeError(f"{label}: not ready in {ready_timeout}s:\n{bridge.logs()[-3000:]}")


def _wait_workers(bridge: Bridge, deadline: float) -> None:
    if bridge.workers <= 1:
        return
    while time.monotonic() < deadline and len(bridge.pids()) < bridge.workers + 1:
        time.sleep(0.05)
    time.sleep(1.0)  # the last worker finishes its start-up after its process appears



def wait_quiet(cpu_seconds: Callable[[], float], *, share: float = 0.05, window: float = 0.3,
               timeout: float = 60.0) -> float:
    """Wait until the processes behind ``cpu_seconds`` use under ``share`` of a core over ``window``
    seconds (a bridge overloaded by the previous run may still be working off its backlog, which
    would be measured against the next scenario); returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = cpu_seconds()
        time.sleep(window)
        if cpu_seconds() - before < share * window:
            break
    return time.monotonic() - started
