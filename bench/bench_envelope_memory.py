"""Memory a SOAP worker keeps after large envelopes (issue 17, item 4), in one process, no СМЭВ.

Run from the repository root::

    .venv/bin/python bench/bench_envelope_memory.py [--sizes 64,256,1000,1900] [--threads 8] [--kind both]

The ESIA accounts endpoint (``bridge.soap.SoapEndpoint`` as the bridge builds it, through its ASGI
face and the shared ``ThreadHop``) is sent CheckPatient envelopes padded to each size in a SOAP Header
entry (``--kind text``: one text node, as ``bench/bench_work_scale.py``; ``elems``: small elements
with an attribute each, as a framework's trace headers would be). The SOAPAction names another
operation, so each call is parsed, checked against the schema and read in full, then refused with
``Client.SOAPAction`` before the service is called (no upstream). ``--threads`` calls run at once, so
they land on as many SOAP threads (as a burst does). Kept = resident memory after the calls minus
before (a warm-up call of 1 KB first), all threads still alive as in the bridge; ``--no-trim`` leaves
out ``malloc_trim`` after large calls (bridge.soap._malloc), as before issue 17 item 4's fix.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_work_scale import padded  # noqa: E402

from adapters.esia._service import build_service  # noqa: E402
from bridge.observability import configure_logging  # noqa: E402
from bridge.soap import SoapEndpoint, _malloc  # noqa: E402

HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"NotCheckPatient"'}


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def body(size: int, kind: str) -> bytes:
    if kind == "text":
        return padded(size)
    base = padded(1000)
    item = b'<x:i a="1">0123456789</x:i>\n'
    return base.replace(b"</x:Trace>", item * max(0, (size - len(base)) // len(item)) + b"</x:Trace>", 1)


async def burst(app: object, content: bytes, threads: int) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://bridge", timeout=60) as client:
        answers = await asyncio.gather(*(client.post("/soap/esia-accounts", content=content, headers=HEADERS)
                                         for _ in range(threads)))
    for answer in answers:
        if answer.status_code != 500 or b"Client.SOAPAction" not in answer.content:
            raise SystemExit(f"unexpected answer: HTTP {answer.status_code} {answer.text[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="64,256,1000,1900", help="KB, comma-separated")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--kind", choices=("text", "elems", "both"), default="both")
    parser.add_argument("--no-trim", action="store_true", help="as before the fix: no malloc_trim after large calls")
    args = parser.parse_args()
    if args.no_trim:
        _malloc._glibc = None
    configure_logging("WARNING")
    logging.getLogger("spyne").setLevel(logging.CRITICAL)  # its traceback of each refused call
    app = SoapEndpoint(build_service(None, ROOT / "wsdl")).asgi()
    asyncio.run(burst(app, body(1000, "text"), args.threads))  # warm: threads started, 1 KB calls
    gc.collect()
    start = rss_kb()
    for kind in ("text", "elems") if args.kind == "both" else (args.kind,):
        for size in (int(s) * 1000 for s in args.sizes.split(",")):
            content = body(size, kind)
            gc.collect()
            before, cpu = rss_kb(), time.process_time()
            asyncio.run(burst(app, content, args.threads))
            cpu = time.process_time() - cpu
            gc.collect()
            kept = rss_kb() - before
            print(f"{kind:5} {len(content) // 1000:5,} KB × {args.threads} at once: kept {kept:8,} KB "
                  f"({kept / args.threads:7,.0f} KB per thread), CPU {cpu * 1000 / args.threads:6.1f} ms per call",
                  flush=True)
    print(f"kept after all: {rss_kb() - start:,} KB", flush=True)


if __name__ == "__main__":
    main()
