"""A find_account request recorded in a project that talks to the real СМЭВ: github.com/Roland4444/sm3
``src/test/java/standart/findesiaTest.java`` (``preparedwithoutTest``), the whole signed SendRequest as sent there
(``recorded/sm3-findesia-SendRequest.xml``, bytes unchanged: its GOST 2001 signature covers them)."""

from __future__ import annotations

from pathlib import Path

SEND_REQUEST: bytes = (Path(__file__).parent / "recorded" / "sm3-findesia-SendRequest.xml").read_bytes()

# Its MessagePrimaryContent: the ESIAFindAccountRequest, as the recorded request carries it.
FIND_ACCOUNT: str = (SEND_REQUEST.decode("utf-8").split("<ns2:MessagePrimaryContent>")[1]
                     .split("</ns2:MessagePrimaryContent>")[0].rstrip("\n"))
