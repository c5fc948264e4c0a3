"""Dashboards and alerts proven on a real Prometheus scraping a real bridge.

One bridge with its sandboxes, one Prometheus (the Debian package's binary) scraping it every
second and evaluating a copy of monitoring/prometheus/alerts.yml whose ``for:`` are 0s:

1. promtool checks the repository's config and rules;
2. sandbox traffic (ЕСИА CheckPatient through zeep, a ЕГИСЗ intake, replies) and then a fault run
   (both sandboxes fail every call, applications older than the legal term, a certificate that ends
   in a few days, a stuck outbox);
3. through the HTTP API, every dashboard panel's query parses and returns data (but for the panels
   only the MAX bot feeds: AWAITING_BOT_TRAFFIC), every alert expression parses, and the alerts the
   fault run provokes fire.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
import zeep
import zeep.exceptions

from tests.bridgeproc import ROOT, BridgeProcess, free_port, start_bridge
from tests.conftest import make_patient
from tests.integration.egisz_helpers import MO, search, service_provided, soap

MONITORING = ROOT / "monitoring"
RULES = MONITORING / "prometheus" / "alerts.yml"
DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))

# Panels whose only source is the ТМК bot (adapters/tmk): its bridge_max_* and
# bridge_tmk_* metrics, and the upstreams only the bot calls (max, sferum, hubservice). Their queries
# must parse now; they need not return data until the bot lands — then empty this set (and drive
# the bot's traffic here) so that they are held to returning data like the rest.
# Panels no traffic of this test feeds (empty: the bot's booking, reminder and chat run below feed them all).
AWAITING_BOT_TRAFFIC: set[tuple[str, str]] = set()

# The alerts the fault run must make fire.
EXPECTED_FIRING = {
    "UpstreamErrorRateHigh", "CircuitOpen", "CertificateExpiringSoon", "ClientFaultsSurging", "ServerFaults",
    "OutboxBacklog", "OutboxOldestMessageStale", "DeadLetters",
    "ApplicationsUnansweredOneWorkingDay", "ApplicationsOverdue",
}
# Grafana's variables, as a dashboard would fill them in.
VARIABLES = {"$__rate_interval": "30s", "$__range": "5m", "$instance": ".*"}


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: apt-get install -y prometheus (scripts/install-system-deps.sh test does it)")
    return found


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def query(self, expr: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body: dict[str, Any] = answer.json()
        return body

    def firing(self) -> set[str]:
        alerts = httpx.get(f"{self.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}

    def has(self, expr: str) -> bool:
        return bool(self.query(expr).get("data", {}).get("result"))


def start_prometheus(tmp: Path, target: str) -> Prometheus:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "0s"
    (tmp / "alerts.yml").write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": ["alerts.yml"],
        "scrape_configs": [{"job_name": "mis-bridge", "static_configs": [{"targets": [target]}]}],
    }
    config_path = tmp / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    checked = subprocess.run([tool("promtool"), "check", "config", str(config_path)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    port = free_port()
    log_path = tmp / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [tool("prometheus"), f"--config.file={config_path}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT)
    prometheus = Prometheus(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{prometheus.url}/-/ready", timeout=1).status_code == 200:
                return prometheus
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"prometheus not ready in 30 s:\n{log_path.read_text()[-3000:]}")


def short_lived_client_certificate(sandbox_dir: Path) -> None:
    """The sandbox's ЕСИА client key, with a certificate that ends in 5 days (the sandbox keeps what it finds)."""
    from bridge.signing import generate_test_key

    directory = sandbox_dir / "esia" / "client"
    directory.mkdir(parents=True, exist_ok=True)
    key, certificate = generate_test_key(subject="/CN=MIS Bridge monitoring test/C=RU", days=5)
    (directory / "client-key.pem").write_bytes(key)
    (directory / "client-cert.pem").write_bytes(certificate)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BridgeProcess, Prometheus]]:
    tool("prometheus")
    tmp = tmp_path_factory.mktemp("prometheus-live")
    short_lived_client_certificate(tmp / "bridge" / "sandbox")
    fast = {"base_url": "http://placeholder.invalid", "circuit_fail_max": 3, "circuit_reset_seconds": 300,
            "max_attempts": 2, "backoff_initial": 0.05, "backoff_max": 0.1, "read_timeout": 3}
    bridge = start_bridge(tmp / "bridge", config={
        "adapters": ["esia", "egisz", "tmk"],
        "test_clock_file": str(tmp / "bridge" / "clock"),
        "adapter_settings": {"tmk": {"consultation_platform": "sferum"},
                             "esia": {"answer_wait_seconds": 3}},   # ЕСИА's accounts go through СМЭВ
        "upstreams": {"smev": fast, "egisz": fast},
        "outbox_max_attempts": 1,          # one failed delivery makes a dead letter
        "outbox_backoff_initial": 0.1, "outbox_backoff_max": 0.5,
    }, sandbox_peers=("esia", "egisz"))
    prometheus = start_prometheus(tmp, bridge.url.removeprefix("http://"))
    try:
        yield bridge, prometheus
    finally:
        prometheus.process.terminate()
        try:
            prometheus.process.wait(10)
        except subprocess.TimeoutExpired:
            prometheus.process.kill()
        bridge.stop()


def check_patients(bridge: BridgeProcess, count: int) -> None:
    client = zeep.Client(bridge.wsdl_url("esia-accounts"))
    for _ in range(count):
        with contextlib.suppress(zeep.exceptions.Fault):   # the fault run: Server.UpstreamUnavailable
            client.service.CheckPatient(make_patient())


def client_faults(bridge: BridgeProcess, count: int) -> None:
    """Requests naming no operation of the service: Client faults, cheaply, in parallel."""
    envelope = (
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
        b"<NotAnOperation/></soapenv:Body></soapenv:Envelope>")

    def one(_: int) -> int:
        with httpx.Client(timeout=10) as http:
            return http.post(f"{bridge.url}/soap/esia-accounts", content=envelope,
                             headers={"Content-Type": "text/xml; charset=utf-8"}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(one, range(count)))
    assert set(statuses) == {500}, set(statuses)


def reply_to_one(bridge: BridgeProcess) -> None:
    rows = [r for r in search(bridge) if r.get("Status") in ("21", "6") and r.get("Type") == "CHOICE"] or search(bridge)
    for row in rows:
        answer = soap(bridge.url, "ReplyToApplication", service_provided(row["Id"]))
        if answer.status_code == 200:
            return
    pytest.fail("no application could be answered")


def old_applications(bridge: BridgeProcess) -> None:
    """Applications filed five days ago, taken in now: past one and two working days, unanswered."""
    now = datetime.now(UTC)
    body = {"mo": [MO], "from": (now - timedelta(days=6)).isoformat(), "to": (now - timedelta(days=5)).isoformat(),
            "count": 3, "seed": 7}
    httpx.post(f"{bridge.sandbox_urls['egisz']}/_sandbox/egisz/generate", json=body, timeout=30).raise_for_status()
    since = (now - timedelta(days=7)).isoformat()
    answer = httpx.post(f"{bridge.url}/admin/egisz/intake", params={"since": since}, timeout=60)
    assert answer.status_code == 200, answer.text


def stuck_outbox(bridge: BridgeProcess, count: int) -> None:
    """Messages of a kind no instance handles, written two hours ago: they wait forever."""
    from bridge.outbox import Outbox
    from bridge.store import Store

    config = yaml.safe_load((bridge.log_path.parent / "bridge.yaml").read_text(encoding="utf-8"))
    store = Store(config["database_url"])
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    outbox = Outbox(store, clock=lambda: two_hours_ago)
    try:
        with store.session() as session:
            for _ in range(count):
                outbox.enqueue(session, kind="monitoring-test.stuck", payload={},
                               idempotency_key=f"stuck-{uuid.uuid4()}")
            session.commit()
    finally:
        store.dispose()


def bot_traffic(bridge: BridgeProcess) -> None:
    """A parent books a ТМК for a child in the sandbox MAX (one dialog error on the way), the shared clock
    moves to 15 minutes before (reminder, Sferum chat), and the МИС sends a sick-leave invitation."""
    from adapters.tmk.sandbox import MessengerUser
    from bridge.clock import FileClock

    wait_until("the bot's webhook subscription", lambda: httpx.get(
        f"{bridge.sandbox_urls['max']}/subscriptions", headers={"Authorization": "sandbox-max-token"},
        timeout=10).json().get("subscriptions"), 20)
    user = MessengerUser(bridge.sandbox_urls["max"], 770001)
    try:
        user.start()
        user.share_phone("+79132456718")
        assert "Вход через Госуслуги выполнен" in user.login_with_esia()
        for label in ("Записать себя", "Повторная", "Хирургия", "ГП"):   # no surgeon holds ТМК in Sferum
            user.press(label)
        assert "нет врачей" in user.screen().text
        for label in ("Главное меню", "Записать другого", "Смирнов А.", "Повторная", "Педиатрия", "ДП",
                      "Михайлова"):
            user.press(label)
        user.press(user.choices("t")[-1])
        user.press(user.choices("a")[0])
        assert user.press("Согласен").text.startswith("Вы записаны")
        start = datetime.fromisoformat(httpx.get(f"{bridge.url}/admin/tmk/bookings", timeout=10).json()[0]["start_at"])
        FileClock.shift_to(bridge.log_path.parent / "clock", start - timedelta(minutes=15) + timedelta(seconds=1))
        wait_until("the 15-minute reminder", lambda: any(
            "remind|" in json.dumps(m["buttons"]) and "15m" in json.dumps(m["buttons"]) for m in user.messages()), 30)
    finally:
        user.close()
    tmk = zeep.Client(bridge.wsdl_url("max-tmk")).service
    from bridge.identifiers import snils_check_digits
    assert tmk.InviteToTmkForSickLeave(Snils="137482915" + snils_check_digits("137482915"),
                                       SickLeaveNumber="910000000001", DoctorName="Смирнова О. П.",
                                       Speciality="Терапия").Delivered == 1


def fail_sandboxes(bridge: BridgeProcess) -> None:
    for upstream in ("smev", "egisz"):
        answer = httpx.put(f"{bridge.sandbox_urls[upstream]}/_sandbox/faults",
                           json={"rate": 1.0, "kinds": ["http_503"], "seed": 1}, timeout=10)
        assert answer.status_code < 300, answer.text


def panels() -> Iterator[tuple[str, str, str]]:
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                yield board["uid"], panel["title"], target["expr"]


def fill(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"an unknown Grafana variable in {expr}"
    return expr


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"] for r in g["rules"]]


def wait_until(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_repository_config_and_rules_pass_promtool() -> None:
    prom = MONITORING / "prometheus"
    for args in (["check", "config", str(prom / "prometheus.yml")],
                 ["check", "config", str(prom / "prometheus-compose.yml")],
                 ["check", "rules", str(RULES)],
                 ["test", "rules", str(prom / "alerts.test.yml")]):
        result = subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, " ".join(args) + "\n" + result.stdout + result.stderr


def test_panels_return_data_and_faults_fire_alerts(stack: tuple[BridgeProcess, Prometheus]) -> None:
    bridge, prometheus = stack
    target = bridge.url.removeprefix("http://")

    # Ordinary traffic: accounts checked, a day of applications taken in, one answered and delivered.
    check_patients(bridge, 5)
    intake = httpx.post(f"{bridge.url}/admin/egisz/intake", timeout=60)
    assert intake.status_code == 200, intake.text
    reply_to_one(bridge)
    bot_traffic(bridge)
    wait_until("the reply's delivery", lambda: httpx.get(f"{bridge.url}/admin/outbox/stats", timeout=5)
               .json().get("counts", {}).get("delivered", 0) >= 1, 20)

    # The fault run.
    old_applications(bridge)
    stuck_outbox(bridge, 501)
    # A counter's series is born at its first fault; rate() and increase() count only what happens
    # after Prometheus first saw it. So one fault first, a scrape, then the surge (as in production,
    # where the bridge is scraped long before anything fails).
    client_faults(bridge, 1)
    fail_sandboxes(bridge)
    check_patients(bridge, 1)       # Server.UpstreamUnavailable
    wait_until("Prometheus to see the first faults", lambda: prometheus.has(
        'bridge_soap_requests_total{outcome="client_fault"}') and prometheus.has(
        'bridge_soap_requests_total{outcome="server_fault"}') and prometheus.has(
        'bridge_upstream_requests_total{upstream="smev",status!="200"}'), 20)
    time.sleep(1.5)
    client_faults(bridge, 800)      # ClientFaultsSurging: over 1 per second on a 10-minute window
    check_patients(bridge, 5)       # more Server.UpstreamUnavailable; the circuit opens after 3
    reply_to_one(bridge)            # its delivery fails once: a dead letter (outbox_max_attempts: 1)
    wait_until("the failed reply to become a dead letter", lambda: httpx.get(
        f"{bridge.url}/admin/outbox/stats", timeout=5).json().get("counts", {}).get("dead", 0) >= 1, 20)

    wait_until("Prometheus to scrape the bridge", lambda: prometheus.has(
        f'bridge_outbox_messages{{instance="{target}",state="dead"}} > 0'), 20)
    time.sleep(3)                   # a few samples more for rate() windows

    # Every panel parses; every panel but the bot's returns data.
    empty, broken = [], []
    for uid, title, expr in panels():
        answer = prometheus.query(fill(expr))
        if answer.get("status") != "success":
            broken.append(f"{uid} / {title}: {answer.get('error')}\n    {expr}")
        elif not answer["data"]["result"] and (uid, title) not in AWAITING_BOT_TRAFFIC:
            empty.append(f"{uid} / {title}\n    {expr}")
    assert not broken, "panels whose queries Prometheus refuses:\n" + "\n".join(broken)
    assert not empty, "panels without data:\n" + "\n".join(empty)
    known = {(uid, title) for uid, title, _ in panels()}
    assert known >= AWAITING_BOT_TRAFFIC, f"stale entries: {sorted(AWAITING_BOT_TRAFFIC - known)}"

    # Every alert expression parses.
    for rule in alert_rules():
        answer = prometheus.query(rule["expr"])
        assert answer.get("status") == "success", f"{rule['alert']}: {answer.get('error')}"

    # The fault run makes the matching alerts fire (rules evaluated every second, for: 0s).
    def all_fire() -> bool:
        return prometheus.firing() >= EXPECTED_FIRING

    try:
        wait_until("the alerts", all_fire, 30)
    except pytest.fail.Exception:
        missing = EXPECTED_FIRING - prometheus.firing()
        pytest.fail(f"alerts that did not fire: {sorted(missing)}; firing: {sorted(prometheus.firing())}")
    rules_text = RULES.read_text(encoding="utf-8")
    for name in EXPECTED_FIRING:
        assert re.search(rf"alert: {name}\b", rules_text), name
