"""The SOAP metrics' ``operation`` label takes only the names the contract gives its operations.

Before this, a request refused early (access denied) was counted under its Body element's local name,
up to 64 characters the caller chose: one new metric series per made-up name. Now anything the contract
does not name (another element, or a contract name in another namespace) is counted as "unknown".
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from spyne import Application, Unicode, rpc
from spyne.protocol.soap import Soap11

from bridge.soap import AccessPolicy, BridgeServiceBase, Client, SoapEndpoint, SoapService, generated_wsdl
from bridge.store import Store

NS = "urn:test:labels"
SERVICE = "labels-test"


class Labels(BridgeServiceBase):
    @rpc(Unicode(min_occurs=1, nillable=False), _returns=Unicode)
    def Shout(ctx: Any, Text: str) -> str:
        return Text.upper()


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[SoapEndpoint]:
    application = Application([Labels], tns=NS, name="Labels", in_protocol=Soap11(validator="lxml"),
                              out_protocol=Soap11())
    store = Store(f"sqlite:///{tmp_path / 'b.db'}")
    store.upgrade()
    with tempfile.TemporaryDirectory() as tmp:
        wsdl = Path(tmp) / "labels.wsdl"
        wsdl.write_bytes(generated_wsdl(application, "http://localhost/soap/SERVICE"))
        # one client with a password: a request without a UsernameToken is denied before anything is read
        access = AccessPolicy([Client("mis1", "mis1", "s3cret", mos=("1.2.3",))], store)
        yield SoapEndpoint(SoapService(SERVICE, application, wsdl), access=access)
    store.dispose()


def post(endpoint: SoapEndpoint, element: str, namespace: str = NS) -> str:
    body = ('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns:t="{namespace}"><s:Body><t:{element}><t:Text>x</t:Text></t:{element}></s:Body></s:Envelope>'
            ).encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": f"/soap/{SERVICE}", "QUERY_STRING": "",
               "SERVER_NAME": "bridge", "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
               "CONTENT_TYPE": "text/xml; charset=utf-8", "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body), "HTTP_SOAPACTION": f'"{element}"'}
    started: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started["status"] = status

    answer = b"".join(endpoint(environ, start_response))
    assert started["status"].startswith("500") and b"Client" in answer, answer
    return answer.decode()


def operations_counted() -> dict[str, float]:
    counted: dict[str, float] = {}
    for family in REGISTRY.collect():
        if family.name == "bridge_soap_requests":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels["service"] == SERVICE:
                    key = f'{sample.labels["operation"]}/{sample.labels["outcome"]}'
                    counted[key] = counted.get(key, 0) + sample.value
    return counted


def test_a_made_up_element_is_counted_as_unknown_not_by_its_name(endpoint: SoapEndpoint) -> None:
    before = operations_counted()
    made_up = "Made" + "Up" * 28   # 60 characters of the caller's choosing
    for n in range(3):
        assert "UsernameToken" in post(endpoint, f"{made_up}{n}")
    after = operations_counted()
    assert after.get("unknown/client_fault", 0) - before.get("unknown/client_fault", 0) == 3
    assert not [key for key in after if key.split("/")[0] not in ("unknown", "Shout")], after


def test_a_contract_operation_denied_keeps_its_name_but_not_in_another_namespace(endpoint: SoapEndpoint) -> None:
    before = operations_counted()
    post(endpoint, "Shout")
    post(endpoint, "Shout", "urn:not:the:contract")
    after = operations_counted()
    assert after.get("Shout/client_fault", 0) - before.get("Shout/client_fault", 0) == 1
    assert after.get("unknown/client_fault", 0) - before.get("unknown/client_fault", 0) == 1
