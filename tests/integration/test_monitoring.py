"""The Prometheus files are valid, and every bridge metric they name is one the bridge exports."""

from __future__ import annotations

import re
import shutil
import subprocess

import httpx
import pytest

from tests.bridgeproc import ROOT, BridgeProcess

PROMETHEUS = ROOT / "monitoring" / "prometheus"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: apt-get install -y prometheus (scripts/install-system-deps.sh does it)")
    return found


def test_rules_and_config_pass_promtool() -> None:
    for args in (["check", "rules", str(PROMETHEUS / "alerts.yml")],
                 ["check", "config", str(PROMETHEUS / "prometheus.yml")]):
        result = subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_metric_in_the_rules_is_exported(bridge: BridgeProcess) -> None:
    exported = httpx.get(f"{bridge.url}/metrics", timeout=10).text
    families = set(re.findall(r"^# TYPE (\w+) ", exported, flags=re.MULTILINE))
    names = {n.removesuffix("_total") for n in families} | families
    referenced = set(re.findall(r"\bbridge_\w+", (PROMETHEUS / "alerts.yml").read_text(encoding="utf-8")))
    missing = {n for n in referenced if n not in names and re.sub(r"_(bucket|sum|count)$", "", n) not in names}
    assert not missing, f"alert rules name metrics the bridge does not export: {sorted(missing)}"
