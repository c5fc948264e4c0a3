"""The world of the СМЭВ exchange's unit tests: the sandbox СМЭВ node in-process behind the
``httpx.MockTransport`` seam of ``bridge.delivery.Upstream`` (it checks our ЭП-ОВ, UUID v1 and repeats,
signs what it returns with its own key, hides a message handed out for the visibility timeout and hands
it out again until it is acknowledged), a kind of information that echoes, a migrated SQLite store, and
one bridge instance's client, exchange and runner. What is counted at the node (SendRequest, Ack,
Ack-not-accepted, redelivered) is the evidence. The fixtures ``keys``, ``node`` and ``store`` are
imported by the test modules."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from lxml import etree
from prometheus_client import REGISTRY

from bridge.delivery import RetryPolicy, Timeouts, Upstream, UpstreamConfig
from bridge.scheduling import JobRuns
from bridge.smev import (
    ExchangeSettings,
    ResponseRunner,
    SmevClient,
    SmevExchange,
    SmevSettings,
    namespaces,
)
from bridge.smev.sandbox import ProviderAnswer, SandboxNode, SmevFaultPlan, create_smev_sandbox_app
from bridge.store import Sealer, Store
from tests.signing.material import Material, gost_materials, python_signer

ECHO = "urn://x-artefacts-sandbox/echo/1.0"
NS = namespaces("1.2")
ENDPOINT = "/smev/v1.2/ws"
SNILS = "112-233-445 95"  # what an answer may carry: it must never reach the store unsealed or the logs


@dataclass
class Keys:
    ours: Material
    smev: Material
    stranger: Material


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(*gost_materials(tmp_path_factory, "ov", "smev", "x"))


class Echo:
    """A kind of information behind the node: echoes the request's text (with the SNILS) after ``delay``."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.reject: tuple[str, str] | None = None
        self.interim = False

    def answer(self, content: etree._Element) -> ProviderAnswer:
        if self.reject is not None:
            return ProviderAnswer(rejection=self.reject, delay_seconds=self.delay)
        reply = etree.Element(f"{{{ECHO}}}EchoResponse", nsmap={"e": ECHO})
        reply.text = f"{content.text} {SNILS}"
        if self.interim:
            reply.set("status", "VALIDATING")
        return ProviderAnswer(content=reply, delay_seconds=self.delay)


@dataclass
class Node:
    node: SandboxNode
    echo: Echo
    faults: SmevFaultPlan
    transport: httpx.MockTransport

    def count(self, what: str) -> int:
        return self.node.counts.get(what, 0)

    def run_until(self, runner: ResponseRunner, what: str, count: int = 1, seconds: float = 5) -> None:
        """``runner``'s rounds, one after another, until the node has counted ``count`` of ``what``
        (or ``seconds`` have passed: the test's assertion then says what is missing)."""
        deadline = time.monotonic() + seconds
        while self.count(what) < count and time.monotonic() < deadline:
            runner.run_once()
            time.sleep(0.05)


@pytest.fixture
def node(keys: Keys) -> Iterator[Node]:
    echo = Echo()
    sandbox = SandboxNode(providers={ECHO: echo}, registered={keys.ours.certificate_der},
                          clock=lambda: datetime.now(UTC), visibility_timeout=timedelta(seconds=0.5))
    plan = SmevFaultPlan()
    app = create_smev_sandbox_app(sandbox, NS, python_signer(keys.smev), ENDPOINT, faults=plan)
    asgi = httpx.ASGITransport(app=app)

    async def call(request: httpx.Request) -> httpx.Response:
        response = await asgi.handle_async_request(request)
        return httpx.Response(response.status_code, headers=response.headers, content=await response.aread())

    yield Node(sandbox, echo, plan, httpx.MockTransport(lambda request: asyncio.run(call(request))))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'bridge.db'}")
    store.upgrade()
    yield store
    store.dispose()


FAST = ExchangeSettings(answer_keep_seconds=60, dead_after_seconds=60, send_lease_seconds=5,
                        resend_pause_seconds=0, store_poll_seconds=0.02, get_response_pause_seconds=0.02,
                        lease_seconds=5, retry_after_seconds=7)


def instance(node: Node, store: Store, keys: Keys, holder: str = "a", *, settings: ExchangeSettings = FAST,
              signer: Material | None = None, trusted: Material | None = None,
              clock_shift: timedelta = timedelta(0), root: str | None = "EchoResponse",
              ) -> tuple[SmevExchange, ResponseRunner]:
    """One bridge instance: its client, exchange and runner (its own lease holder) over the shared store."""
    upstream = Upstream(UpstreamConfig(name="smev", base_url="http://smev.test", timeouts=Timeouts(read=2.0),
                                       retry=RetryPolicy(max_attempts=2, backoff_initial=0.001, backoff_max=0.002),
                                       circuit_fail_max=1000),
                        transport=node.transport)

    def clock() -> datetime:
        return datetime.now(UTC) + clock_shift

    client = SmevClient(upstream, python_signer(signer or keys.ours),
                        SmevSettings(schema_version="1.2", endpoint=ENDPOINT,
                                     trusted_certificates={(trusted or keys.smev).certificate_der}), clock=clock)
    exchange = SmevExchange(client, store, Sealer(b"k" * 32, "smev:test"), answerer="ЕСИА", settings=settings,
                            clock=clock)
    exchange.register_kind(ECHO, root_element=root,
                           is_final=lambda content: content.get("status") != "VALIDATING")
    return exchange, ResponseRunner(exchange, JobRuns(store, holder, lease_seconds=settings.lease_seconds))


def echo_request(text: str = "сверка") -> etree._Element:
    element = etree.Element(f"{{{ECHO}}}EchoRequest", nsmap={"e": ECHO})
    element.text = text
    return element


class Running:
    """A runner's thread for the length of a ``with``."""

    def __init__(self, runner: ResponseRunner) -> None:
        self.runner = runner

    def __enter__(self) -> ResponseRunner:
        self.runner.start()
        return self.runner

    def __exit__(self, *_exc: object) -> None:
        self.runner.stop()


def received_count(kind: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("bridge_smev_received_total", {"kind": kind, "outcome": outcome}) or 0.0


def table_rows(store: Store, table: str) -> list[dict[str, object]]:
    with store.engine.connect() as db:
        return [dict(row._mapping) for row in db.execute(sa.text(f"SELECT * FROM {table}"))]
