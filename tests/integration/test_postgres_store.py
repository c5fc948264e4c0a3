"""The bridge on PostgreSQL: the same story, the journal in PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import zeep
from sqlalchemy import create_engine, text

from tests.bridgeproc import start_bridge
from tests.conftest import make_patient


def test_bridge_runs_the_story_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    bridge = start_bridge(tmp_path, database_url=pg_url)
    try:
        service = zeep.Client(bridge.wsdl_url("esia-accounts")).service
        patient = make_patient()
        assert service.CheckPatient(patient).Result == "NOT_FOUND"
        assert len(service.RegisterPatient(patient).TemporaryPassword) == 8
        assert service.CheckPatient(patient).Result == "MATCH"
        assert len(service.ResetPassword(patient).TemporaryPassword) == 8
    finally:
        bridge.stop()
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT kind, state, subject FROM upstream_operation ORDER BY created_at")).all()
    engine.dispose()
    assert [(kind, state) for kind, state, _ in rows] == [("register", "succeeded"), ("recover", "succeeded")]
    assert all(patient["Snils"] not in subject for _, _, subject in rows), "the store keeps pseudonyms only"
