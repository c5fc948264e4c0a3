"""Serving the bridge: one process (with --sandbox, the sandbox peers in it too), or a supervisor
and N worker processes sharing one listening socket (bridge/cli/_workers.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from bridge.adapters import load_adapter
from bridge.cli._heap import freeze_startup_heap
from bridge.cli._listen import Listeners
from bridge.cli._workers import serve_workers
from bridge.config import Settings, UpstreamSettings
from bridge.observability import configure_logging, get_logger


def _uvicorn(app: Any, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app, host=host, port=port, access_log=False, log_config=None, lifespan="on",
        timeout_graceful_shutdown=10,
        proxy_headers=False,   # forwarding headers count only from trusted_proxies, checked by the bridge
    )
    return uvicorn.Server(config)


def _run_servers(servers: list[uvicorn.Server], listeners: Listeners) -> None:
    """Run several uvicorn servers on one event loop, each on its socket bound beforehand:
    uvicorn's choice of loop (uvloop when it is installed, as ``uvicorn.run`` would use), not
    asyncio's default one. A plain ``asyncio.run`` took the default selector loop, about 8% of a
    CheckPatient's CPU in the profile."""

    async def run() -> None:
        await asyncio.gather(*(server.serve(sockets=[listeners.socket(server.config.host, server.config.port)])
                               for server in servers))

    try:
        with asyncio.Runner(loop_factory=servers[-1].config.get_loop_factory()) as runner:
            runner.run(run())
    finally:
        listeners.close()


def with_sandbox_upstreams(settings: Settings, listeners: Listeners | None = None
                           ) -> tuple[Settings, list[tuple[str, Any, int]]]:
    """Point every adapter's upstreams at sandbox peers on loopback ports.

    Returns the new settings and (upstream names, app, port) per sandbox server; an app that
    plays several upstreams is served once. With ``listeners``, each port is bound as it is
    chosen: ``sandbox_base_port`` and the ports after it, or (unset) free ports the system picks.
    Without, the ports are only named (``bridge check``): from ``sandbox_base_port``, else 0.
    """
    peers: list[tuple[str, Any, int]] = []
    upstreams = dict(settings.upstreams)
    adapter_settings = {k: dict(v) for k, v in settings.adapter_settings.items()}
    base = settings.sandbox_base_port
    bridge_url = f"http://{settings.host}:{settings.port}"
    workdir = settings.sandbox_dir
    served: dict[int, int] = {}
    for name in settings.adapters:
        sandbox = load_adapter(name).sandbox_peers(workdir / name, bridge_url)
        for upstream, app in sandbox.apps.items():
            if id(app) not in served:
                port = base + len(peers) if base is not None else 0
                if listeners is not None:
                    port = listeners.bind(settings.sandbox_host, port, "sandbox_base_port")
                served[id(app)] = port
                peers.append((upstream, app, port))
            current = upstreams.get(upstream)
            fields = current.model_dump() if current else {}
            fields["base_url"] = f"http://{settings.sandbox_host}:{served[id(app)]}"
            fields["proxy"] = fields["proxy_password_file"] = None    # loopback peers: never through a proxy
            upstreams[upstream] = UpstreamSettings(**fields)
        merged = dict(sandbox.adapter_settings)
        merged.update(adapter_settings.get(name, {}))
        adapter_settings[name] = merged
    update = {"upstreams": upstreams, "adapter_settings": adapter_settings}
    return settings.model_copy(update=update), peers


def serve_blocking(settings: Settings, workers: int = 1) -> None:
    if workers > 1:
        serve_workers(settings, workers)
        return
    from bridge.app import create_app  # the app loads only for `serve`, not for every command

    configure_logging(settings.log_level)
    log = get_logger("bridge.serve")
    peers: list[tuple[str, Any, int]] = []
    listeners = Listeners()
    try:   # every port bound before anything starts: a busy one stops start-up here, nothing half-started
        listeners.bind(settings.host, settings.port, "port")
        if settings.sandbox:
            settings, peers = with_sandbox_upstreams(settings, listeners)
        servers = [_uvicorn(app, settings.sandbox_host, port) for _, app, port in peers]
        for upstream, _, port in peers:
            log.info("sandbox.peer", upstream=upstream, url=f"http://{settings.sandbox_host}:{port}")
        servers.append(_uvicorn(create_app(settings), settings.host, settings.port))
    except BaseException:
        listeners.close()
        raise
    freeze_startup_heap()
    log.info("bridge.listening", url=f"http://{settings.host}:{settings.port}", sandbox=settings.sandbox)

    _run_servers(servers, listeners)


def serve_sandbox_blocking(settings: Settings, write_config: Path | None) -> None:
    """Serve only the sandbox peers; write the settings a bridge needs to use them."""
    configure_logging(settings.log_level)
    log = get_logger("bridge.sandbox")
    listeners = Listeners()
    try:
        bridged, peers = with_sandbox_upstreams(settings, listeners)
        if write_config is not None:
            snippet = {
                "upstreams": {name: {"base_url": up.base_url} for name, up in bridged.upstreams.items()},
                "adapter_settings": bridged.adapter_settings,
            }
            write_config.write_text(yaml.safe_dump(snippet, allow_unicode=True, sort_keys=True), encoding="utf-8")
    except BaseException:
        listeners.close()
        raise
    servers = [_uvicorn(app, settings.sandbox_host, port) for _, app, port in peers]
    for upstream, _, port in peers:
        log.info("sandbox.peer", upstream=upstream, url=f"http://{settings.sandbox_host}:{port}")

    _run_servers(servers, listeners)
