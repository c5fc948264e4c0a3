"""An ЕГИСЗ world for unit tests: the sandbox registry with a generated batch, a SQLite store with the
adapter's tables, and the REST upstream talking to the sandbox in-process (no network)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.egisz._applications import Applications
from adapters.egisz._client import RestAttachmentUpstream
from adapters.egisz.sandbox import BatchSpec, EgiszRegistry, create_egisz_sandbox
from bridge.delivery import Upstream, UpstreamConfig
from bridge.mapping import MappingSet
from bridge.store import Store
from tests.bridgeproc import ROOT

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

MO = "1.2.643.5.1.13.13.12.2.22.1234"
NOW = datetime.now(UTC)


@dataclass(frozen=True)
class EgiszWorld:
    registry: EgiszRegistry
    store: Store
    upstream: RestAttachmentUpstream
    applications: Applications


@contextmanager
def egisz_world(tmp_path: Path, *, count: int, seed: int, cancellation_share: float,
                detachment_share: float) -> Iterator[EgiszWorld]:
    """``count`` applications of MO over the last ten hours; the store is disposed of afterwards."""
    registry = EgiszRegistry(mos=(MO,))
    registry.generate(BatchSpec(mos=(MO,), start=NOW - timedelta(hours=10), end=NOW - timedelta(minutes=1),
                                count=count, seed=seed, cancellation_share=cancellation_share,
                                detachment_share=detachment_share))
    store = Store(f"sqlite:///{tmp_path / 'b.db'}")
    store.upgrade([ROOT / "adapters" / "egisz" / "migrations"])
    try:
        with TestClient(create_egisz_sandbox(registry), base_url="http://egisz.test") as client:
            upstream = RestAttachmentUpstream(Upstream(UpstreamConfig("egisz-unit", "http://egisz.test"),
                                                       transport=client._transport))
            applications = Applications(MappingSet.load(ROOT / "mappings")["egisz.application"])
            yield EgiszWorld(registry, store, upstream, applications)
    finally:
        store.dispose()
