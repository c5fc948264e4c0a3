"""The WSDL in wsdl/ is the contract: what we serve and what the code implements match it."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
from lxml import etree

from bridge.cli._contracts import drift
from bridge.config import load_settings
from bridge.soap import canonical_contract
from tests.bridgeproc import ROOT, BridgeProcess

FROZEN = ROOT / "wsdl" / "esia-accounts.wsdl"


def test_served_wsdl_is_the_frozen_file(bridge: BridgeProcess) -> None:
    served = httpx.get(bridge.wsdl_url("esia-accounts")).content
    assert canonical_contract(served) == canonical_contract(FROZEN.read_bytes())


def test_code_matches_the_frozen_contract() -> None:
    assert drift(load_settings()) == []


def test_drift_is_detected(tmp_path: Path) -> None:
    wsdl_dir = tmp_path / "wsdl"
    shutil.copytree(ROOT / "wsdl", wsdl_dir)
    changed = FROZEN.read_text(encoding="utf-8").replace('name="MobilePhone"', 'name="Phone"')
    (wsdl_dir / "esia-accounts.wsdl").write_text(changed, encoding="utf-8")
    problems = drift(load_settings(wsdl_dir=wsdl_dir))
    assert len(problems) == 1
    assert "esia-accounts.wsdl" in problems[0] and "Phone" in problems[0]


def test_soap_address_follows_the_caller_and_the_proxy(bridge: BridgeProcess) -> None:
    def address(headers: dict[str, str]) -> str:
        body = httpx.get(bridge.wsdl_url("esia-accounts"), headers=headers).content
        found = etree.fromstring(body).xpath("//*[local-name()='address']/@location")
        return str(found[0])

    assert address({}) == f"{bridge.url}/soap/esia-accounts"
    assert address({"Host": "mis-bridge.region.local"}) == "http://mis-bridge.region.local/soap/esia-accounts"
    # forwarding headers count only from trusted_proxies (tests/unit/test_access.py): not from here
    assert (
        address({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bridge.example.ru"})
        == f"{bridge.url}/soap/esia-accounts"
    )
    # a host header that is not a host name does not get into the contract
    assert "<" not in address({"Host": 'evil"><x'})
