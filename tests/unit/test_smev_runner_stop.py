"""At shutdown the СМЭВ GetResponse runner stops before the upstreams close (AdapterContext.on_stop, run by
``close``): it used to poll on, and log ``smev.runner_error`` "client has been closed" once a second.

The instance is the one ``bridge serve --sandbox`` builds for the esia adapter (bridge.app.build_context),
its sandbox СМЭВ node served on loopback by uvicorn; the runner is started as the app's lifespan does.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from structlog.testing import capture_logs

from bridge.app import build_context
from bridge.cli._serve import with_sandbox_upstreams
from bridge.config import Settings
from bridge.smev import ResponseRunner
from tests.bridgeproc import free_port, free_port_block


class _Peers:
    """The sandbox peers, served on loopback by uvicorn in one thread."""

    def __init__(self, peers: list[tuple[str, Any, int]], host: str) -> None:
        self.servers = [uvicorn.Server(uvicorn.Config(app, host=host, port=port, access_log=False,
                                                      log_config=None, lifespan="off")) for _, app, port in peers]

        async def serve() -> None:
            await asyncio.gather(*(server.serve() for server in self.servers))

        self.thread = threading.Thread(target=lambda: asyncio.run(serve()), name="sandbox-peers", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not all(server.started for server in self.servers):
            assert time.monotonic() < deadline and self.thread.is_alive(), "the sandbox peers did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        for server in self.servers:
            server.should_exit = True
        self.thread.join(15)


@pytest.fixture
def peers_and_settings(tmp_path: Path) -> Iterator[Settings]:
    base = Settings.model_validate({
        "adapters": ["esia"], "sandbox": True, "port": free_port(), "sandbox_base_port": free_port_block(8),
        "database_url": f"sqlite:///{tmp_path / 'bridge.db'}", "sandbox_dir": tmp_path / "sandbox",
        "pseudonym_key": "runner-stop-test-pseudonym-key-0123456789", "outbox_workers": 0, "scheduler": False})
    bridged, peers = with_sandbox_upstreams(base)
    served = _Peers(peers, bridged.sandbox_host)
    try:
        yield bridged
    finally:
        served.stop()


def test_the_runner_stops_before_the_smev_upstream_closes(peers_and_settings: Settings) -> None:
    context, adapters = build_context(peers_and_settings)
    for adapter in adapters:
        adapter.soap_services(context)   # builds the exchange: its runner's start and stop are registered
    owners = [getattr(task, "__self__", None) for task in context.on_start]   # bound methods' objects
    runners = [owner for owner in owners if isinstance(owner, ResponseRunner)]
    assert len(runners) == 1
    runner: ResponseRunner = runners[0]
    pause = runner.exchange.settings.get_response_pause_seconds
    with capture_logs() as logged:
        for task in context.on_start:   # as the app's lifespan does
            task()
        time.sleep(pause * 1.5)   # it polls the node (GetResponse) at least once
        thread = runner._thread
        assert thread is not None and thread.is_alive()
        context.close()
        assert not thread.is_alive()   # joined by close, before the upstreams closed
        time.sleep(pause * 2.5)   # a runner left running would poll the closed client by now
    context.store.dispose()
    errors = [entry for entry in logged if entry["event"] in ("smev.runner_error", "bridge.stop_task.failed")]
    assert errors == [], errors
    assert not any("has been closed" in str(entry) for entry in logged)


def test_one_failing_stop_does_not_keep_the_others_or_the_upstreams_from_closing(
        peers_and_settings: Settings) -> None:
    context, _adapters = build_context(peers_and_settings)
    upstream = context.upstream("smev")
    stopped: list[str] = []

    def broken() -> None:
        raise RuntimeError("a stop that fails")

    context.on_stop.extend([lambda: stopped.append("first"), broken, lambda: stopped.append("last")])
    with capture_logs() as logged:
        context.close()
    context.store.dispose()
    assert stopped == ["last", "first"]   # last registered, first stopped
    assert [e["event"] for e in logged if e["log_level"] == "error"] == ["bridge.stop_task.failed"]
    with pytest.raises(Exception, match="has been closed"):   # what the runner used to log, polling on
        upstream.request("POST", "/smev/v1.2/ws", content=b"<x/>", idempotent=True)
