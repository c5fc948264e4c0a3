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
        patient = make_patient(PassportNumber="413579", PassportIssueDate="01.09.2004")
        assert service.CheckPatient(patient).Result == "NOT_FOUND"
        assert service.RegisterPatient(patient).TemporaryPassword in (None, "")  # ЕСИА sends it by SMS
        assert service.CheckPatient(patient).Result == "MATCH"
        assert service.ResetPassword(patient).TemporaryPassword in (None, "")
    finally:
        bridge.stop()
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT kind, state, subject FROM upstream_operation ORDER BY created_at")).all()
    engine.dispose()
    # every upstream operation is journalled; the searches (find_account) before each button too
    assert [(kind, state) for kind, state, _ in rows if kind != "find_account"] == [
        ("register", "succeeded"), ("recover", "succeeded")]
    assert {state for kind, state, _ in rows if kind == "find_account"} == {"succeeded"}
    assert all(patient["Snils"] not in subject for _, _, subject in rows), "the store keeps pseudonyms only"
