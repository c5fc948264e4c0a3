"""monitoring/ and deploy/ are valid, and every bridge metric they name is one the bridge exports.

tests/integration/test_prometheus_live.py runs the queries on a real Prometheus; this file checks
what can be checked without one: promtool, JSON and YAML, names, mounted paths, the Helm chart.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.bridgeproc import ROOT, BridgeProcess

MONITORING = ROOT / "monitoring"
PROMETHEUS = MONITORING / "prometheus"
GRAFANA = MONITORING / "grafana"
CHART = ROOT / "deploy" / "helm" / "mis-bridge"

# What the ТМК bot (adapters/tmk) exports; dashboards and rules may name them.
BOT_METRICS = {
    "bridge_max_webhook_requests_total", "bridge_max_updates_total", "bridge_tmk_dialog_errors_total",
    "bridge_tmk_bookings_total", "bridge_tmk_reminders_total", "bridge_tmk_reminder_lateness_seconds",
    "bridge_tmk_reminders_overdue", "bridge_tmk_consultation_chats_total", "bridge_tmk_notifications_total",
}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: apt-get install -y prometheus (scripts/install-system-deps.sh does it)")
    return found


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted((GRAFANA / "dashboards").glob("*.json"))}


def dashboard_exprs() -> list[str]:
    return [t["expr"] for d in dashboards().values() for p in d["panels"] for t in p.get("targets", [])]


def test_rules_and_config_pass_promtool() -> None:
    for args in (["check", "rules", str(PROMETHEUS / "alerts.yml")],
                 ["check", "config", str(PROMETHEUS / "prometheus.yml")],
                 ["check", "config", str(PROMETHEUS / "prometheus-compose.yml")],
                 ["test", "rules", str(PROMETHEUS / "alerts.test.yml")]):
        result = subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_has_a_runbook() -> None:
    rules = [r for g in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))["groups"]
             for r in g["rules"]]
    for rule in rules:
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]
        assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), "an alert is defined twice"


def test_every_metric_in_rules_and_dashboards_is_exported(bridge: BridgeProcess) -> None:
    exported = httpx.get(f"{bridge.url}/metrics", timeout=10).text
    families = set(re.findall(r"^# TYPE (\w+) ", exported, flags=re.MULTILINE))
    names = {n.removesuffix("_total") for n in families} | families | BOT_METRICS
    for where, text in (("alert rules", (PROMETHEUS / "alerts.yml").read_text(encoding="utf-8")),
                        ("dashboards", "\n".join(dashboard_exprs()))):
        referenced = set(re.findall(r"\bbridge_\w+", text))
        missing = {n for n in referenced if n not in names and re.sub(r"_(bucket|sum|count)$", "", n) not in names}
        assert not missing, f"{where} name metrics the bridge does not export: {sorted(missing)}"


def test_dashboards_are_what_the_generator_makes(tmp_path: Path) -> None:
    """Edit build_dashboards.py, not the JSON: the two must agree."""
    script = (GRAFANA / "build_dashboards.py").read_text(encoding="utf-8")
    copy = tmp_path / "build_dashboards.py"
    copy.write_text(script, encoding="utf-8")
    (tmp_path / "dashboards").mkdir()
    subprocess.run([sys.executable, str(copy)], check=True, timeout=60)
    for name, board in dashboards().items():
        assert json.loads((tmp_path / "dashboards" / name).read_text(encoding="utf-8")) == board, \
            f"{name} differs from build_dashboards.py's output: run python monitoring/grafana/build_dashboards.py"
    assert {p.name for p in (tmp_path / "dashboards").glob("*.json")} == set(dashboards())


def test_dashboards_are_well_formed() -> None:
    boards = dashboards()
    assert {b["uid"] for b in boards.values()} >= {
        "mis-bridge-overview", "mis-bridge-esia", "mis-bridge-egisz", "mis-bridge-max", "mis-bridge-mis",
        "mis-bridge-delivery", "mis-bridge-business"}
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    for name, board in boards.items():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in board["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == uid, (name, panel["title"])
                assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), (name, panel["title"])


def test_personal_data_never_becomes_a_label() -> None:
    """No query groups or filters by a label that could carry personal data."""
    forbidden = re.compile(r"\b(snils|phone|name|patient|person|user|chat_id|birth)\w*\s*(=|!=|=~|,|\))", re.I)
    for expr in dashboard_exprs():
        assert not forbidden.search(expr.replace("endpoint", "").replace("mapping", "")), expr


def test_compose_mounts_only_files_that_exist() -> None:
    compose_file = MONITORING / "docker-compose.yml"
    compose = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
    base = compose_file.parent
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (base / source).exists(), f"{name} mounts {source}, which does not exist"
        build = service.get("build")
        if build:
            assert (base / build["context"] / build.get("dockerfile", "Dockerfile")).is_file(), name
    for name, secret in compose.get("secrets", {}).items():
        assert (base / secret["file"]).is_file(), name
    assert set(compose["services"]) >= {"bridge", "postgres", "prometheus", "grafana"}
    # Prometheus in compose loads the repository's rules; Grafana the repository's dashboards.
    prom_config = yaml.safe_load((PROMETHEUS / "prometheus-compose.yml").read_text(encoding="utf-8"))
    assert prom_config["rule_files"] == ["alerts.yml"]
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "mis-bridge.yml").read_text())
    mounted = {v.split(":")[1] for v in compose["services"]["grafana"]["volumes"]}
    assert provider["providers"][0]["options"]["path"] in mounted


# --- the Helm chart ------------------------------------------------------------------------------

def _values_paths(values: Any, prefix: str = "") -> set[str]:
    paths = {prefix} if prefix else set()
    if isinstance(values, dict):
        for key, value in values.items():
            paths |= _values_paths(value, f"{prefix}.{key}" if prefix else key)
    return paths


def test_chart_templates_name_only_defined_values() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart["apiVersion"] == "v2" and chart["name"] == "mis-bridge"
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    defined = _values_paths(values)
    used: set[str] = set()
    for template in (CHART / "templates").iterdir():
        used |= set(re.findall(r"\.Values\.([A-Za-z0-9_.]+)", template.read_text(encoding="utf-8")))
    undefined = {u for u in used if u not in defined}
    assert not undefined, f"templates use values that values.yaml does not define: {sorted(undefined)}"
    kinds = "\n".join(t.read_text(encoding="utf-8") for t in (CHART / "templates").glob("*.yaml"))
    for kind in ("Deployment", "Job", "Service", "PodDisruptionBudget", "ServiceMonitor", "ConfigMap", "Secret"):
        assert f"kind: {kind}\n" in kinds, kind


def test_chart_renders_with_helm() -> None:
    """Helm's own engine (helm-python-sdk: Helm's Go SDK, no helm binary) renders and lints the chart."""
    import helm_python as helm  # in the dev extra: CI renders the chart for real
    values = {"database": {"url": "postgresql://bridge:secret@db:5432/bridge"}, "replicaCount": 3}
    lint = helm.lint(str(CHART), values, strict=True)
    assert not lint["errors"], lint
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values, name="mis", namespace="bridge", is_install=True)
    objects = {d["kind"]: d for text in rendered.values() for d in yaml.safe_load_all(text) if d}
    assert set(objects) >= {"Deployment", "Job", "Service", "PodDisruptionBudget", "ServiceMonitor", "ConfigMap",
                            "Secret"}
    deployment = objects["Deployment"]
    assert deployment["spec"]["replicas"] == 3
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e for e in container["env"]}
    assert "secretKeyRef" in env["BRIDGE_DATABASE_URL"]["valueFrom"]
    assert env["BRIDGE_SECRETS_DIR"]["value"] == "/run/secrets/mis-bridge"
    job = objects["Job"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "upgrade"]
    assert "pre-install" in job["metadata"]["annotations"]["helm.sh/hook"]
    config = yaml.safe_load(objects["ConfigMap"]["data"]["bridge.yaml"])
    assert "database_url" not in config and "pseudonym_key" not in config
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmError, match="database"):
        chart.render({}, name="mis", namespace="bridge")
