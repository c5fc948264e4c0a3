"""Raw SOAP 1.1 calls, for tests that must control every byte (bad XML, headers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import httpx
from lxml import etree

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
ESIA_NS = "urn:misbridge:esia:accounts:1"


def envelope(operation: str, patient: dict[str, Any], ns: str = ESIA_NS) -> bytes:
    fields = "".join(
        f"<t:{k}>{escape(str(v))}</t:{k}>" for k, v in patient.items() if v is not None
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="{ENV}" xmlns:t="{ns}">'
        f"<soapenv:Body><t:{operation}><t:Patient>{fields}</t:Patient></t:{operation}></soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()


@dataclass
class SoapAnswer:
    status: int
    body: bytes

    @property
    def tree(self) -> Any:
        return etree.fromstring(self.body)

    @property
    def faultcode(self) -> str | None:
        found = self.tree.xpath("//*[local-name()='Fault']/faultcode/text()")
        return str(found[0]).split(":", 1)[-1] if found else None

    @property
    def faultstring(self) -> str:
        found = self.tree.xpath("//*[local-name()='Fault']/faultstring/text()")
        return str(found[0]) if found else ""

    def text(self, name: str) -> list[str]:
        return [str(t) for t in self.tree.xpath(f"//*[local-name()='{name}']/text()")]


def call(url: str, operation: str, body: bytes, soap_action: str | None = None,
         headers: dict[str, str] | None = None) -> SoapAnswer:
    sent = {"Content-Type": "text/xml; charset=utf-8", **(headers or {})}
    if soap_action is not None:
        sent["SOAPAction"] = soap_action
    response = httpx.post(url, content=body, headers=sent, timeout=30)
    return SoapAnswer(response.status_code, response.content)
