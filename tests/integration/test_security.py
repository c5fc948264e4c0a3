"""A bridge with two МИС clients for different MOs, an admin token and a metrics token: zeep with a
WS-Security UsernameToken calls through; each client sees only its MO's applications, even by id;
unauthenticated calls are Client faults; everything lands in the audit journal (`bridge audit`)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zeep
from zeep.exceptions import Fault
from zeep.wsse.username import UsernameToken

from tests.bridgeproc import ROOT, BridgeProcess, start_bridge
from tests.integration.egisz_helpers import MO

ADMIN, METRICS = "admin-token-0123456789", "metrics-token-0123456789"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BridgeProcess, Path]]:
    tmp = tmp_path_factory.mktemp("secured")
    (tmp / "mis-a.pw").write_text("pass-of-a\n", encoding="utf-8")
    config = {
        "adapters": ["esia", "egisz"],
        "clients": [
            {"name": "mis-a", "username": "mis-a", "password_file": str(tmp / "mis-a.pw"), "mos": [MO]},
            {"name": "mis-b", "username": "mis-b", "password": "pass-of-b", "mos": ["1.2.643.5.1.13.13.12.2.22.9999"]},
        ],
        "admin_token": ADMIN, "metrics_token": METRICS,
    }
    bridge = start_bridge(tmp / "bridge", config=config, sandbox_peers=("esia", "egisz"))
    yield bridge, tmp / "bridge" / "bridge.yaml"
    bridge.stop()


def service(bridge: BridgeProcess, user: str | None, password: str = "") -> Any:
    wsse = UsernameToken(user, password, use_digest=True) if user else None
    return zeep.Client(bridge.wsdl_url("egisz-attachments"), wsse=wsse).service


def admin(bridge: BridgeProcess, path: str, method: str = "GET", token: str | None = ADMIN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{bridge.url}{path}", headers=headers, timeout=60)


def test_clients_see_only_their_mo_and_are_audited(secured: tuple[BridgeProcess, Path]) -> None:
    bridge, config = secured
    assert admin(bridge, "/admin/egisz/intake", "POST").status_code == 200
    a, b = service(bridge, "mis-a", "pass-of-a"), service(bridge, "mis-b", "pass-of-b")
    criteria = {"PeriodFrom": "01.01.2020", "PeriodTo": "31.12.2030"}
    rows = a.SearchApplications(Criteria=criteria)
    assert rows, "mis-a's MO has applications"
    assert not b.SearchApplications(Criteria=criteria)       # zeep: None for an empty list
    with pytest.raises(Fault) as info:
        b.GetApplication(Id=rows[0].Id)                # guessing another MO's id: it does not exist
    assert info.value.code.endswith("Client.NotFound") or "не найдено" in info.value.message
    assert a.GetApplication(Id=rows[0].Id).Snils

    with pytest.raises(Fault) as info:
        service(bridge, None).SearchApplications(Criteria=criteria)
    assert info.value.code.endswith("Client.Authentication") and "UsernameToken" in info.value.message
    with pytest.raises(Fault) as info:
        service(bridge, "mis-a", "wrong").SearchApplications(Criteria=criteria)
    assert "неверное имя пользователя или пароль" in info.value.message

    out = subprocess.run([sys.executable, "-m", "bridge", "audit", "--config", str(config), "--json", "--limit", "50"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60, env=bridge.env)
    assert out.returncode == 0, out.stderr
    entries = [json.loads(line) for line in out.stdout.splitlines()]
    seen = {(e["client"], e["operation"], e["outcome"]) for e in entries}
    assert ("mis-a", "SearchApplications", "ok") in seen and ("mis-b", "GetApplication", "client_fault") in seen
    assert ("anonymous", "SearchApplications", "client_fault") in seen
    assert ("admin", "POST /admin/egisz/intake", "ok") in seen
    assert any(e["objects"] == f"Id={rows[0].Id}" for e in entries if e["operation"] == "GetApplication")
    assert rows[0].Snils not in out.stdout and rows[0].FullName not in out.stdout   # no personal data


def test_admin_and_metrics_want_their_tokens(secured: tuple[BridgeProcess, Path]) -> None:
    bridge, _ = secured
    assert admin(bridge, "/admin/outbox/stats", token=None).status_code == 401
    assert admin(bridge, "/admin/outbox/stats", token="wrong").status_code == 401
    assert admin(bridge, "/admin/outbox/stats").status_code == 200
    assert httpx.get(f"{bridge.url}/metrics", timeout=10).status_code == 401
    scrape = httpx.get(f"{bridge.url}/metrics", headers={"Authorization": f"Bearer {METRICS}"}, timeout=10)
    assert scrape.status_code == 200 and "bridge_soap_requests_total" in scrape.text
    assert httpx.get(f"{bridge.url}/healthz", timeout=10).status_code == 200     # probes stay open
