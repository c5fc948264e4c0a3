"""An in-process ЕСИА over СМЭВ 3 for unit tests: PatientAccounts → SmevAccountOperations → the core's
SmevExchange → the sandbox СМЭВ node (its HTTP face, in-process through httpx) → the sandbox ЕСИА
reg_service behind it.

Nothing here is a stand-in of ours: the node (bridge/smev/sandbox) checks our ЭП-ОВ and validates every
request against the kind's schema (adapters/esia/schemas), the reg_service (adapters/esia/sandbox) keeps
one account per SNILS. Shared by tests/unit/test_patients.py (the accounts' rules) and
tests/unit/test_soap_fastpath.py (the compiled SOAP codecs against spyne's, over this upstream).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from adapters.esia._client import Routing, SmevAccountOperations
from adapters.esia._patients import PatientAccounts
from adapters.esia._reg_service import REGISTER
from adapters.esia.sandbox._reg_service import RegService
from bridge.delivery import RetryPolicy, Timeouts, Upstream, UpstreamConfig
from bridge.mapping import MappingSet
from bridge.scheduling import JobRuns
from bridge.smev import ExchangeSettings, ResponseRunner, SmevClient, SmevExchange, SmevSettings, namespaces
from bridge.smev.sandbox import SandboxNode, create_smev_sandbox_app
from bridge.store import OperationJournal, Pseudonymizer, Sealer, Store
from tests.bridgeproc import ROOT
from tests.signing.material import Material, gost_materials, python_signer

NS = namespaces("1.2")
ENDPOINT = "/smev/v1.2/ws"
FAST = ExchangeSettings(answer_keep_seconds=60, dead_after_seconds=60, send_lease_seconds=5,
                        resend_pause_seconds=0, store_poll_seconds=0.02, get_response_pause_seconds=0.02,
                        lease_seconds=5, retry_after_seconds=7)


@dataclass
class Keys:
    """Our ЭП-ОВ and the СМЭВ node's signing key (GOST, made by openssl for the test run)."""

    ours: Material
    smev: Material


def make_keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(*gost_materials(tmp_path_factory, "ov", "smev"))


@dataclass
class InProcessEsia:
    node: SandboxNode
    reg_service: RegService
    accounts: PatientAccounts
    store: Store

    def sent(self, kind: str) -> int:
        return self.node.by_kind.get(kind, {}).get("SendRequest", 0)

    def answered_all(self) -> bool:
        """Every exchange in the bridge's journal has its answer (answered or acknowledged)."""
        with self.store.engine.connect() as db:
            states = [str(row[0]) for row in db.execute(sa.text("SELECT state FROM smev_exchange"))]
        return bool(states) and all(state in ("answered", "acknowledged") for state in states)

    def business_keys(self) -> list[str]:
        with self.store.engine.connect() as db:
            return [str(row[0]) for row in db.execute(sa.text("SELECT business_key FROM smev_exchange"))]


@dataclass
class Slower:
    """One kind of information answered later than the others."""

    inner: Any
    delay_seconds: float

    def answer(self, content: Any) -> Any:
        return dataclasses.replace(self.inner.answer(content), delay_seconds=self.delay_seconds)


@contextmanager
def in_process_esia(keys: Keys, tmp_path: Path, *, delay: float = 0.0, wait: float = 10.0,
                    register_delay: float | None = None, store_name: str = "bridge") -> Iterator[InProcessEsia]:
    """ЕСИА answering after ``delay`` s (register after ``register_delay`` s when given); the МИС's press
    waits ``wait`` s; the bridge's store in ``store_name``.db."""
    reg_service = RegService(delay_seconds=delay)
    node = SandboxNode(providers={}, registered={keys.ours.certificate_der}, clock=lambda: datetime.now(UTC),
                       visibility_timeout=timedelta(seconds=0.5))
    schemas = reg_service.schemas()
    for kind, provider in reg_service.providers().items():
        slow = register_delay is not None and kind == REGISTER
        node.serve(kind, Slower(provider, register_delay or 0.0) if slow else provider, schemas.get(kind))
    asgi = httpx.ASGITransport(app=create_smev_sandbox_app(node, NS, python_signer(keys.smev), ENDPOINT))

    async def call(request: httpx.Request) -> httpx.Response:
        response = await asgi.handle_async_request(request)
        return httpx.Response(response.status_code, headers=response.headers, content=await response.aread())

    upstream = Upstream(UpstreamConfig(name="smev", base_url="http://smev.test", timeouts=Timeouts(read=2.0),
                                       retry=RetryPolicy(max_attempts=2, backoff_initial=0.001, backoff_max=0.002),
                                       circuit_fail_max=1000),
                        transport=httpx.MockTransport(lambda request: asyncio.run(call(request))))
    store = Store(f"sqlite:///{tmp_path / store_name}.db")
    store.upgrade()
    client = SmevClient(upstream, python_signer(keys.ours),
                        SmevSettings(schema_version="1.2", endpoint=ENDPOINT,
                                     trusted_certificates={keys.smev.certificate_der}))
    exchange = SmevExchange(client, store, Sealer(b"k" * 32, "smev:esia"), answerer="ЕСИА", settings=FAST)
    operations = SmevAccountOperations(exchange, Routing("DEV", "000-000-600 06", 1000000001), wait)
    runner = ResponseRunner(exchange, JobRuns(store, "a", lease_seconds=FAST.lease_seconds))
    accounts = PatientAccounts(operations, MappingSet.load(ROOT / "mappings")["esia.account"],
                               OperationJournal(store), Pseudonymizer(b"unit-test-key-0123456789"))
    runner.start()
    try:
        yield InProcessEsia(node, reg_service, accounts, store)
    finally:
        runner.stop()
        upstream.close()
        store.dispose()
