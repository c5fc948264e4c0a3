"""Shared steps of the ЕГИСЗ integration tests."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

import httpx

from tests.bridgeproc import BridgeProcess, SandboxProcess

MO = "1.2.643.5.1.13.13.12.2.22.1234"
NS = "urn:misbridge:egisz:attachments:1"


def soap(url: str, operation: str, inner: str) -> httpx.Response:
    body = (f'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="{NS}">'
            f"<soapenv:Body><t:{operation}>{inner}</t:{operation}></soapenv:Body></soapenv:Envelope>")
    return httpx.post(f"{url}/soap/egisz-attachments", content=body.encode(), timeout=30,
                      headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{operation}"'})


def fields(values: dict[str, Any]) -> str:
    return "".join(f"<t:{k}>{escape(str(v))}</t:{k}>" for k, v in values.items() if v is not None)


def generate(sandbox: BridgeProcess, count: int, seed: int, **shares: float) -> None:
    now = datetime.now(UTC)
    body = {"mo": [MO], "from": (now - timedelta(hours=10)).isoformat(), "to": (now - timedelta(minutes=1)).isoformat(),
            "count": count, "seed": seed, **shares}
    httpx.post(f"{sandbox.sandbox_urls['egisz']}/_sandbox/egisz/generate", json=body, timeout=60).raise_for_status()


def intake(bridge: BridgeProcess) -> int:
    today = datetime.now(UTC).date()
    answer = soap(bridge.url, "RunIntake", fields({"PeriodFrom": (today - timedelta(days=2)).strftime("%d.%m.%Y"),
                                                   "PeriodTo": today.strftime("%d.%m.%Y")}))
    assert answer.status_code == 200, answer.text
    return int(answer.text.split("Processed>")[1].split("<")[0])


def search(bridge: BridgeProcess, **criteria: Any) -> list[dict[str, str]]:
    from lxml import etree

    today = datetime.now(UTC).date()
    inner = fields({"PeriodFrom": (today - timedelta(days=2)).strftime("%d.%m.%Y"),
                    "PeriodTo": today.strftime("%d.%m.%Y"), **criteria})
    answer = soap(bridge.url, "SearchApplications", f"<t:Criteria>{inner}</t:Criteria>")
    assert answer.status_code == 200, answer.text
    rows = etree.fromstring(answer.content).xpath("//*[local-name()='ApplicationRow']")
    return [{etree.QName(child).localname: child.text for child in row} for row in rows]


def service_provided(application_id: str) -> str:
    reply = {"Outcome": "SERVICE_PROVIDED", "Comment": "Прикреплён", "Employee": "Сидорова В. В.",
             "DistrictNumber": "7", "DoctorLastName": "Иванова", "DoctorFirstName": "Анна",
             "DoctorMiddleName": "Петровна", "DoctorSnils": "11223344595",
             "DoctorSpecialty": "врач-терапевт участковый", "IdempotencyKey": f"test-{uuid.uuid4()}"}
    return f"<t:Id>{application_id}</t:Id><t:Reply>{fields(reply)}</t:Reply>"


def reply_all(urls: list[str], application_ids: list[str]) -> None:
    """Reply to every application, spreading the calls over the given bridges, 8 at a time."""
    def one(index_and_id: tuple[int, str]) -> None:
        index, application_id = index_and_id
        answer = soap(urls[index % len(urls)], "ReplyToApplication", service_provided(application_id))
        assert answer.status_code == 200, answer.text

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, enumerate(application_ids)))


def outbox_stats(bridge: BridgeProcess) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(f"{bridge.url}/admin/outbox/stats", timeout=10).json()
    return stats


def wait_drained(bridge: BridgeProcess, seconds: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    stats = outbox_stats(bridge)
    while time.monotonic() < deadline:
        stats = outbox_stats(bridge)
        counts = stats.get("counts", {})
        if counts.get("pending", 0) == 0 and stats.get("leased", 0) == 0:
            return stats
        time.sleep(0.5)
    raise AssertionError(f"outbox not drained: {stats}")


def applied_replies(sandbox: SandboxProcess) -> Counter[str]:
    replies = httpx.get(f"{sandbox.sandbox_urls['egisz']}/_sandbox/egisz/replies", timeout=30).json()
    return Counter(r["task_id"] for r in replies)


def set_faults(sandbox: BridgeProcess, rate: float, kinds: list[str] | None = None, stall: float = 0.5) -> None:
    body: dict[str, Any] = {"rate": rate, "stall_seconds": stall, "seed": 3}
    if kinds:
        body["kinds"] = kinds
    httpx.put(f"{sandbox.sandbox_urls['egisz']}/_sandbox/faults", json=body, timeout=10).raise_for_status()
