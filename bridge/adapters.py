"""How the core finds and wires adapters, without naming any of them.

An adapter is a package ``adapters.<name>`` exposing ``adapter``, an object with the
``Adapter`` protocol. The list of adapters comes from configuration.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, cast

from fastapi import APIRouter

from bridge.asgi import ASGIApp
from bridge.clock import Clock, system_clock
from bridge.config import ConfigError, Settings
from bridge.delivery import Upstream
from bridge.mapping import MappingSet
from bridge.observability import get_logger
from bridge.outbox import Outbox
from bridge.scheduling import Scheduler
from bridge.soap import SoapService
from bridge.store import OneTimeTokens, OperationJournal, Pseudonymizer, Store

T = TypeVar("T")
_log = get_logger("bridge.adapters")


class SharedKey(Generic[T]):
    """A typed key for what is built once per context and shared, by one adapter's parts or between
    adapters (aiohttp's ``AppKey`` pattern): ``context.shared(KEY, build)`` is a ``T``, checked by mypy."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"SharedKey({self.name!r})"


@dataclass
class AdapterContext:
    """What the core hands to an adapter when it builds its services."""

    settings: Settings
    store: Store
    mappings: MappingSet
    pseudonym: Pseudonymizer
    journal: OperationJournal
    tokens: OneTimeTokens
    outbox: Outbox
    scheduler: Scheduler
    clock: Clock = system_clock       # the one time every schedule reads (a FileClock in tests)
    # Work to do once the instance serves (subscribe a webhook…): run in order, failures logged.
    on_start: list[Callable[[], None]] = field(default_factory=list)
    # Work to undo when the instance stops (a poller's thread…): run last first by ``close``, before the
    # upstreams close, so that nothing calls an upstream that is closed.
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    _upstreams: dict[str, Upstream] = field(default_factory=dict)
    _shared: dict[SharedKey[Any], Any] = field(default_factory=dict)

    def upstream(self, name: str) -> Upstream:
        if name not in self._upstreams:
            self._upstreams[name] = Upstream(self.settings.upstream(name))
        return self._upstreams[name]

    def shared(self, key: SharedKey[T], build: Callable[[], T]) -> T:
        """What ``key`` names in this context, built by ``build`` the first time it is asked for."""
        if key not in self._shared:
            self._shared[key] = build()
        return cast(T, self._shared[key])

    def find(self, key: SharedKey[T]) -> T | None:
        """What ``key`` names if it was built, else None."""
        return cast(T | None, self._shared.get(key))

    def adapter_settings(self, name: str) -> dict[str, Any]:
        return dict(self.settings.adapter_settings.get(name, {}))

    def close(self) -> None:
        """Stop what the adapters started (``on_stop``, last first), then close the upstreams."""
        for task in reversed(self.on_stop):
            try:
                task()
            except Exception:  # one adapter's stop must not keep the others' from running
                _log.exception("bridge.stop_task.failed", task=getattr(task, "__qualname__", "?"))
        for upstream in self._upstreams.values():
            upstream.close()


@dataclass
class SandboxPeers:
    """Sandbox apps by upstream name (one app may play several upstreams), and adapter settings
    (merged into ``adapter_settings.<adapter>``) that only make sense against these sandboxes."""

    apps: dict[str, ASGIApp]
    adapter_settings: dict[str, Any] = field(default_factory=dict)


class Adapter(Protocol):
    name: str
    upstreams: tuple[str, ...]
    # Where the alembic revisions of the adapter's own tables live (its branch, labelled with its name), and
    # of any branch its revisions follow (a client package's tables it uses); () when it keeps none.
    migrations: tuple[Path, ...]

    def check_settings(self, settings: dict[str, Any]) -> list[str]:
        """Problems in this adapter's section of the configuration, as 'field: reason'."""
        ...

    def required_upstreams(self, settings: dict[str, Any]) -> tuple[str, ...]:
        """Every upstream the adapter calls with this section of the configuration (``upstreams`` and those
        its settings name, e.g. a СМЭВ node): `bridge check` wants each one's ``base_url``."""
        ...

    def soap_services(self, context: AdapterContext) -> list[SoapService]: ...

    def soap_contracts(self, wsdl_dir: Path) -> list[SoapService]:
        """The same services with no dependencies behind them: for WSDL freeze and drift checks."""
        ...

    def http_routes(self, context: AdapterContext) -> list[APIRouter]:
        """Plain HTTP routes the adapter serves (browser redirects, webhooks)."""
        ...

    def sandbox_peers(self, workdir: Path, bridge_url: str) -> SandboxPeers:
        """Sandbox apps to serve on loopback with ``--sandbox``, and the settings that point at them."""
        ...

    def demo(self, bridge_url: str, sandbox_urls: dict[str, str], say: Callable[[str], None]) -> None:
        """Tell the adapter's story against a running bridge with its sandbox."""
        ...


def migration_paths(adapters: Iterable[Adapter]) -> list[Path]:
    """The version locations of these adapters' tables, each once (two adapters may share a client's)."""
    return list(dict.fromkeys(path for adapter in adapters for path in adapter.migrations))


def load_adapter(name: str) -> Adapter:
    try:
        module = importlib.import_module(f"adapters.{name}")
    except ModuleNotFoundError:
        raise ConfigError([f"adapters: unknown adapter '{name}' (no package adapters.{name})"]) from None
    adapter: Adapter | None = getattr(module, "adapter", None)
    if adapter is None:
        # A package that was an adapter once may say what to configure instead.
        moved: str | None = getattr(module, "ADAPTER_MOVED", None)
        raise ConfigError([f"adapters: '{name}' is not an adapter: {moved}" if moved
                           else f"adapters: package adapters.{name} has no 'adapter' object"])
    return adapter
