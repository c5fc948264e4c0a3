"""Shared fixtures: a running bridge with sandbox peers, test patients, PostgreSQL."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.identifiers import snils_check_digits
from tests.bridgeproc import BridgeProcess, start_bridge

PG_ADMIN_URL = os.environ.get("BRIDGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def make_snils(rng: random.Random | None = None) -> str:
    rng = rng or random.Random()
    first9 = f"{rng.randint(2_000_000, 999_999_999):09d}"
    return first9 + snils_check_digits(first9)


def make_patient(**overrides: Any) -> dict[str, Any]:
    patient = {
        "MisPatientId": f"MIS-{uuid.uuid4().hex[:8]}",
        "LastName": "Тарасенко",
        "FirstName": "Ольга",
        "MiddleName": "Викторовна",
        "BirthDate": "17.08.1979",
        "Snils": make_snils(),
        "MobilePhone": "8916" + f"{random.randint(0, 9_999_999):07d}",
        "Gender": "2",
    }
    patient.update(overrides)
    return patient


@pytest.fixture(scope="session")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeProcess]:
    """One bridge with the sandbox ЕСИА for the whole session."""
    process = start_bridge(tmp_path_factory.mktemp("bridge"))
    yield process
    process.stop()


@pytest.fixture()
def patient() -> dict[str, Any]:
    return make_patient()


@pytest.fixture()
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    name = f"bridge_test_{uuid.uuid4().hex[:10]}"
    admin = PG_ADMIN_URL.replace("postgresql://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


LONGEST_FIRST = ("test_egisz_delivery", "test_soap_fastpath", "test_wire_unchanged", "test_workers",
                 "test_prometheus_live", "test_cluster", "test_hostile_xml", "test_foreign_clients",
                 "test_esia_chaos", "test_properties", "test_tmk_reminders", "test_smev_exchange",
                 "test_smev_receiving")


@pytest.hookimpl(trylast=True)   # after any plugin that reorders (pytest-randomly…): this order is final
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.integration)
    # Tests marked session_last read what the rest of the session left behind (the PII scan of every
    # log): they run after all the others, whatever the order of collection.
    items.sort(key=lambda item: item.get_closest_marker("session_last") is not None)   # stable
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Two workers end together when the longest modules start first (they are handed out in this order, a
        # module to one worker): measured with --durations, each over 40 s of wall time in a serial run.
        rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(Path(str(item.fspath)).stem, len(rank)))   # stable
    # Under xdist "last" means nothing to a worker: `make test` runs these after the parallel run has
    # ended (-m "not session_last", then -m session_last with BRIDGE_TEST_LOGS naming its --basetemp).
    if os.environ.get("PYTEST_XDIST_WORKER"):
        for item in items:
            if item.get_closest_marker("session_last") is not None:
                item.add_marker(pytest.mark.skip(reason="reads the logs of the whole run: in a parallel run it "
                                                        "comes after it (`make test`, BRIDGE_TEST_LOGS)"))
