"""Three bridge instances on one PostgreSQL behind a round-robin balancer, under sandbox traffic, killed
at random points: scheduled jobs run once per schedule slot, every reply is delivered once, ЕСИА login
and the bot's dialog move between instances, and an instance stopped with SIGTERM leaves its work to
the others."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import zeep

from adapters.esia.sandbox import consent
from adapters.tmk.sandbox import MessengerUser
from bridge.clock import FileClock
from tests.bridgeproc import BridgeProcess, SandboxProcess, free_port, start_bridge, start_sandbox
from tests.integration.egisz_helpers import (
    applied_replies,
    generate,
    intake,
    outbox_stats,
    search,
    set_faults,
    wait_drained,
)
from tests.loadbalancer import RoundRobin

pytestmark = pytest.mark.postgres


class Cluster:
    def __init__(self, tmp: Path, pg_url: str) -> None:
        self.tmp = tmp
        self.balancer = RoundRobin().start()
        self.sandbox: SandboxProcess = start_sandbox(tmp / "sandbox", ("esia", "egisz", "tmk"),
                                                     bridge_port=self.balancer.port)
        self.clock = tmp / "clock"
        # The shared clock starts a second into a minute, so no schedule slot passes while the instances
        # start and the test fills the sandbox: a run in that gap would move the intake's watermark past
        # the applications generated after it (their timestamps are back-dated), and they would never come.
        FileClock.shift_to(self.clock, datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(seconds=1))
        egisz = {**self.sandbox.bridge_config["adapter_settings"]["egisz"], "intake_cron": "* * * * *"}
        self.config: dict[str, Any] = {
            **self.sandbox.bridge_config, "adapters": ["esia", "egisz", "tmk"], "log_level": "WARNING",
            "outbox_workers": 2, "outbox_backoff_initial": 0.05, "outbox_backoff_max": 0.5,
            "outbox_max_attempts": 100, "shutdown_seconds": 5, "test_clock_file": str(self.clock),
            "adapter_settings": {**self.sandbox.bridge_config["adapter_settings"], "egisz": egisz},
        }
        self.config.setdefault("upstreams", {}).setdefault("egisz", {}).update({"read_timeout": 0.3,
                                                                                 "max_attempts": 2})
        self.pg_url = pg_url
        self.bridges: list[BridgeProcess] = [self.start(i) for i in range(3)]
        self.balancer.backends = [b.url for b in self.bridges]

    def start(self, index: int) -> BridgeProcess:
        config = {**self.config, "port": free_port()}
        return start_bridge(self.tmp / f"bridge{index}-{time.monotonic_ns()}", config=config,
                            database_url=self.pg_url, sandbox=False)

    def kill_one(self, rng: random.Random) -> int:
        index = rng.randrange(len(self.bridges))
        self.bridges[index].kill()
        return index

    def restart(self, index: int) -> None:
        self.bridges[index] = self.start(index)
        self.balancer.backends = [b.url for b in self.bridges]

    def close(self) -> None:
        for bridge in self.bridges:
            bridge.stop()
        self.sandbox.stop()
        self.balancer.stop()


@pytest.fixture
def cluster(tmp_path: Path, pg_url: str) -> Any:
    made = Cluster(tmp_path, pg_url)
    yield made
    made.close()


def _reply_with_retries(url: str, application_ids: list[str]) -> None:
    """As a МИС does: a reply that met a dying instance (502) is sent again with the same IdempotencyKey."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.integration.egisz_helpers import service_provided, soap

    def one(application_id: str) -> None:
        body = service_provided(application_id)
        for _ in range(6):
            answer = soap(url, "ReplyToApplication", body)
            if answer.status_code == 200:
                return
            assert answer.status_code in (502, 503), answer.text
            time.sleep(0.2)
        raise AssertionError(f"reply to {application_id} never accepted")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, application_ids))


def _runs(bridge: BridgeProcess) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = httpx.get(f"{bridge.url}/admin/jobs/egisz.intake/runs", timeout=10).json()
    return [r for r in runs if r["trigger"] == "schedule"]


def test_three_instances_killed_at_random_points(cluster: Cluster) -> None:
    rng = random.Random(20261122)
    sandbox = cluster.sandbox

    # Scheduled jobs: three schedule slots pass (the shared clock jumps a minute each time) → one run per slot.
    generate(sandbox, 300, seed=31, cancellation_share=0.0, detachment_share=0.0)
    minute_began = FileClock(cluster.clock)().replace(second=0, microsecond=0)
    for minute in range(1, 4):
        FileClock.shift_to(cluster.clock, minute_began + timedelta(minutes=minute, seconds=1))
        deadline = time.monotonic() + 30
        while len({r["slot"] for r in _runs(cluster.bridges[0]) if r["state"] != "running"}) < minute:
            assert time.monotonic() < deadline, _runs(cluster.bridges[0])
            time.sleep(0.3)
    runs = _runs(cluster.bridges[0])
    slots = [r["slot"] for r in runs]
    assert len(slots) == len(set(slots)) >= 3, runs

    # Replies through the balancer, one instance killed mid-stream, the upstream failing a third of the calls.
    ids = [row["Id"] for row in search(cluster.bridges[1], ApplicationType="CHOICE", Status=21)][:300]
    assert len(ids) >= 250
    set_faults(sandbox, 0.3, ["http_503", "drop_after"])
    killer = threading.Timer(1.0, lambda: killed.append(cluster.kill_one(rng)))
    killed: list[int] = []
    killer.start()
    _reply_with_retries(cluster.balancer.url, ids)
    killer.join()
    set_faults(sandbox, 0.0)
    cluster.restart(killed[0])
    for bridge in cluster.bridges:
        wait_drained(bridge)
    applied = applied_replies(sandbox)
    assert all(applied[task] == 1 for task in ids), "a reply was applied twice or never"

    # ЕСИА login started on one instance, completed on another.
    first, second = zeep.Client(cluster.bridges[0].wsdl_url("esia-login")).service, \
        zeep.Client(cluster.bridges[2].wsdl_url("esia-login")).service
    return_url = cluster.config["adapter_settings"]["esia"]["login"]["return_urls"][0]
    start = first.GetEsiaLoginUrl(ReturnUrl=return_url, Purpose="cluster")
    with httpx.Client(timeout=30, follow_redirects=False) as browser:
        back = consent(browser, start.Url, lambda _: None)
    code = parse_qs(urlsplit(back).query)["code"][0]
    assert second.CompleteEsiaLogin(Code=code, State=start.State).Person.LastName == "Смирнова"

    # The bot's dialog through the balancer, an instance killed in the middle of it.
    deadline = time.monotonic() + 20
    while not httpx.get(f"{sandbox.sandbox_urls['max']}/subscriptions",
                        headers={"Authorization": "sandbox-max-token"}).json().get("subscriptions"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    user = MessengerUser(sandbox.sandbox_urls["max"], 990001)
    try:
        user.start()
        user.share_phone("+79132456718")
        with httpx.Client(timeout=30, follow_redirects=False) as browser:
            answer = browser.get(user.link("Войти через Госуслуги").replace(cluster.balancer.url,
                                                                            cluster.balancer.url))
            back = consent(browser, answer.headers["location"], lambda _: None)
            assert "Вход через Госуслуги выполнен" in browser.get(back).text
        for label in ("Записать другого", "Смирнов А.", "Повторная", "Педиатрия"):
            user.press(label)
        index = cluster.kill_one(rng)
        user.press("ДП")
        user.press("Михайлова")
        user.press(user.choices("t")[-1])
        user.press(user.choices("a")[0])
        assert user.press("Согласен").text.startswith("Вы записаны на ТМК")
        cluster.restart(index)
    finally:
        user.close()
    served = {b: n for b, n in cluster.balancer.served.items() if n}
    assert len(served) >= 3, served


def test_sigterm_finishes_in_hand_and_leaves_the_rest(cluster: Cluster) -> None:
    sandbox = cluster.sandbox
    generate(sandbox, 200, seed=41, cancellation_share=0.0, detachment_share=0.0)
    assert intake(cluster.bridges[0]) >= 200
    ids = [row["Id"] for row in search(cluster.bridges[0], ApplicationType="CHOICE", Status=21)][:200]
    set_faults(sandbox, 0.5, ["stall"], stall=0.2)          # slow upstream: work stays in hand
    _reply_with_retries(cluster.bridges[0].url, ids)
    leaving = cluster.bridges[0]
    assert outbox_stats(leaving)["counts"].get("pending", 0) > 0
    began = time.monotonic()
    leaving.process.terminate()
    leaving.process.wait(30)
    took = time.monotonic() - began
    assert took < cluster.config["shutdown_seconds"] + 10, took
    # uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status is -15 either way; what
    # shows the shutdown was graceful is that no message is left leased to the leaving instance.
    assert leaving.process.returncode in (0, -15)
    pending = httpx.get(f"{cluster.bridges[1].url}/admin/outbox", params={"state": "pending", "limit": 1000},
                        timeout=10).json()["messages"]
    leased_to_it = [m for m in pending
                    if (m.get("locked_by") or "").split(":")[1:2] == [str(leaving.process.pid)]
                    and m.get("locked_until") and datetime.fromisoformat(m["locked_until"]) > datetime.now(UTC)]
    assert leased_to_it == [], leased_to_it
    set_faults(sandbox, 0.0)
    for bridge in cluster.bridges[1:]:
        wait_drained(bridge)
    applied = applied_replies(sandbox)
    assert all(applied[task] == 1 for task in ids), "a reply was applied twice or never"
