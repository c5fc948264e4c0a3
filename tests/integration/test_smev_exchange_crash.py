"""A bridge process killed (SIGKILL) in the middle of a СМЭВ exchange loses nothing and repeats nothing.

The sandbox СМЭВ node serves over real HTTP on loopback (it checks ЭП-ОВ, UUID v1, repeats; hides a message
handed out for the visibility timeout and hands it out again until acknowledged). The bridge side runs in
child processes (``bridge.smev.SmevExchange`` and ``ResponseRunner`` over a SQLite store file, the real
client through ``bridge.delivery.Upstream``) that kill themselves with SIGKILL at the named moment:

* right after SendRequest went through, before the journal says ``sent``;
* while waiting for the answer (after ``sent``);
* after the answer is stored, before its Ack.

A fresh process then carries on. What the node counts (SendRequest, MessageIsAlreadySent, Ack, redelivered)
and what the journal holds prove one request, one answer, applied once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn
from lxml import etree

from bridge.signing import SignerConfig, load_signer
from bridge.smev import namespaces
from bridge.smev.sandbox import ProviderAnswer, SandboxNode, create_smev_sandbox_app
from bridge.store import Store
from tests.bridgeproc import free_port
from tests.signing.material import Material, gost_materials

ROOT = Path(__file__).resolve().parents[2]
ECHO = "urn://x-artefacts-sandbox/echo/1.0"
SNILS = "112-233-445 95"  # in the request and its answer: never in a log line of the bridge processes
NS = namespaces("1.2")
ENDPOINT = "/smev/v1.2/ws"
VISIBILITY = 1.0

CHILD = textwrap.dedent('''
    import json, os, signal, sys
    from datetime import UTC, datetime
    from lxml import etree
    from bridge.delivery import RetryPolicy, Timeouts, Upstream, UpstreamConfig
    from bridge.scheduling import JobRuns
    from bridge.signing import SignerConfig, load_signer
    from bridge.smev import (ExchangeSettings, ResponseRunner, SmevAnswerPending, SmevClient, SmevExchange,
                             SmevSettings)
    from bridge.store import Sealer, Store

    url, db, key, cert, smev_der, role, holder = sys.argv[1:8]
    ECHO = "urn://x-artefacts-sandbox/echo/1.0"
    store = Store(db)
    store.upgrade()
    upstream = Upstream(UpstreamConfig(name="smev", base_url=url, timeouts=Timeouts(read=5.0),
                                       retry=RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.05)))
    signer = load_signer(SignerConfig(kind="python", key_file=key, certificate_file=cert))
    client = SmevClient(upstream, signer, SmevSettings(schema_version="1.2", endpoint="/smev/v1.2/ws",
                        trusted_certificates={open(smev_der, "rb").read()}))
    settings = ExchangeSettings(send_lease_seconds=1.0, resend_pause_seconds=0.1, store_poll_seconds=0.05,
                                get_response_pause_seconds=0.05, lease_seconds=2.0, retry_after_seconds=5)
    exchange = SmevExchange(client, store, Sealer(b"s" * 32, "smev:crash"), answerer="ЕСИА", settings=settings)
    exchange.register_kind(ECHO, root_element="EchoResponse")
    runner = ResponseRunner(exchange, JobRuns(store, holder, lease_seconds=2.0))

    def die(*_args, **_kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if role == "kill-after-send":
        original = client.send_request
        def send_then_die(content, message_id, **kw):
            original(content, message_id, **kw)
            die()
        client.send_request = send_then_die
    if role == "kill-after-store":
        runner.after_store = die
    if role == "kill-while-waiting":  # once the journal says sent, while the press waits for the answer
        import threading, time
        def kill_when_sent():
            while True:
                current = exchange.journal.current("echo:patient-1")
                if current is not None and current.state == "sent":
                    die()
                time.sleep(0.02)
        threading.Thread(target=kill_when_sent, daemon=True).start()

    request = etree.Element("{%s}EchoRequest" % ECHO)
    request.text = "сверка 112-233-445 95"
    runner.start()
    try:
        answer = exchange.send_and_wait(kind=ECHO, business_key="echo:patient-1", content=request, wait_seconds=20)
    except SmevAnswerPending:
        print(json.dumps({"pending": True}))
        sys.exit(0)
    if role == "kill-after-store":  # the runner died in its thread? it kills the whole process: never here
        print(json.dumps({"unexpected": True}))
        sys.exit(3)
    import time
    deadline = time.monotonic() + 20  # stay until what this instance stored is acknowledged (a redelivery too)
    while time.monotonic() < deadline and (exchange.journal.stats(datetime.now(UTC)).unacknowledged
                                           or exchange.journal.current("echo:patient-1").state != "acknowledged"):
        time.sleep(0.05)
    runner.stop()
    print(json.dumps({"message_id": answer.message_id, "original": answer.original_message_id,
                      "text": answer.content.text}))
''')


class Echo:
    def __init__(self) -> None:
        self.delay = 0.0

    def answer(self, content: etree._Element) -> ProviderAnswer:
        reply = etree.Element(f"{{{ECHO}}}EchoResponse", nsmap={"e": ECHO})
        reply.text = f"ответ на {content.text}"
        return ProviderAnswer(content=reply, delay_seconds=self.delay)


@dataclass
class World:
    url: str
    node: SandboxNode
    echo: Echo
    ours: Material
    smev: Material
    script: Path
    db: str
    smev_der: Path

    def count(self, what: str) -> int:
        return self.node.counts.get(what, 0)

    def bridge(self, role: str, holder: str) -> subprocess.CompletedProcess[str]:
        """One bridge process with ``role``; it ends by itself (answered, pending) or killed."""
        argv = [sys.executable, str(self.script), self.url, self.db, str(self.ours.key), str(self.ours.cert),
                str(self.smev_der), role, holder]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "BRIDGE_LOG_LEVEL": "debug"}
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT, check=False)


@pytest.fixture(scope="module")
def materials(tmp_path_factory: pytest.TempPathFactory) -> tuple[Material, Material]:
    ours, smev = gost_materials(tmp_path_factory, "ov", "smev")
    return ours, smev


@pytest.fixture
def world(tmp_path: Path, materials: tuple[Material, Material]) -> Iterator[World]:
    ours, smev = materials
    smev_der = tmp_path / "smev.der"
    smev_der.write_bytes(smev.certificate_der)
    echo = Echo()
    node = SandboxNode(providers={ECHO: echo}, registered={ours.certificate_der}, clock=lambda: datetime.now(UTC),
                       visibility_timeout=timedelta(seconds=VISIBILITY))
    signer = load_signer(SignerConfig(kind="python", key_file=smev.key, certificate_file=smev.cert))
    app = create_smev_sandbox_app(node, NS, signer, ENDPOINT)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_config=None,
                                           lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="smev-node", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the sandbox СМЭВ did not start"
        time.sleep(0.05)
    script = tmp_path / "bridge_child.py"
    script.write_text(CHILD)
    yield World(f"http://127.0.0.1:{port}", node, echo, ours, smev, script, f"sqlite:///{tmp_path / 'bridge.db'}",
                smev_der)
    server.should_exit = True
    thread.join(timeout=10)


def _journal(world: World) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    store = Store(world.db)
    try:
        with store.engine.connect() as db:
            exchanges = [dict(r._mapping) for r in db.execute(sa.text("SELECT * FROM smev_exchange"))]
            received = [dict(r._mapping) for r in db.execute(sa.text("SELECT * FROM smev_received"))]
    finally:
        store.dispose()
    return exchanges, received


def _no_personal_data(done: subprocess.CompletedProcess[str]) -> None:
    logs = done.stderr + "\n".join(done.stdout.strip().splitlines()[:-1])  # the last stdout line is the result
    assert "smev." in logs or done.returncode != 0  # the process did log
    assert SNILS not in logs and SNILS.replace("-", "").replace(" ", "") not in logs


def _answered(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert done.returncode == 0, done.stderr[-3000:]
    _no_personal_data(done)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_killed_after_send_request_before_the_journal_said_sent(world: World) -> None:
    world.echo.delay = 0.5
    killed = world.bridge("kill-after-send", "instance-a")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    _no_personal_data(killed)
    [row], _ = _journal(world)
    assert row["state"] == "sending" and world.count("SendRequest") == 1
    answer = _answered(world.bridge("serve", "instance-b"))
    assert answer["original"] == row["message_id"] and answer["text"] == f"ответ на сверка {SNILS}"
    # The second process sent the same MessageID again; СМЭВ said MessageIsAlreadySent: one request in all.
    # (Under load its sender and its runner may both re-send it before the journal says sent: each is
    # refused the same way, and still one request reached ЕСИА.)
    assert world.count("SendRequest") == 1 and world.count("MessageIsAlreadySent") >= 1
    assert world.count("Ack") == 1
    [row], [received] = _journal(world)
    assert row["state"] == "acknowledged" and received["deliveries"] == 1


def test_killed_while_waiting_for_the_answer(world: World) -> None:
    world.echo.delay = 3.0
    killed = world.bridge("kill-while-waiting", "instance-a")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    _no_personal_data(killed)
    [row], _ = _journal(world)
    assert row["state"] == "sent"
    answer = _answered(world.bridge("serve", "instance-b"))
    assert answer["original"] == row["message_id"]
    assert world.count("SendRequest") == 1 and world.count("MessageIsAlreadySent") == 0 and world.count("Ack") == 1


def test_killed_between_storing_the_answer_and_its_ack(world: World) -> None:
    killed = world.bridge("kill-after-store", "instance-a")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    _no_personal_data(killed)
    [row], [received] = _journal(world)
    assert row["state"] == "answered" and received["acknowledged_at"] is None and world.count("Ack") == 0
    time.sleep(VISIBILITY)  # the node hands the unacknowledged message out again after its visibility timeout
    answer = _answered(world.bridge("serve", "instance-b"))
    assert answer["message_id"] == row["answer_message_id"]  # the stored answer, not a second one
    deadline = time.monotonic() + 10
    while world.count("Ack") == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert world.count("SendRequest") == 1 and world.count("redelivered") >= 1 and world.count("Ack") == 1
    [row], [received] = _journal(world)
    assert row["state"] == "acknowledged" and received["deliveries"] == 2 and received["acknowledged_at"] is not None
