"""Cost as the work grows: CheckPatient envelopes from 1 KB to the 2 MB limit, mappings from 7 to 1,000 fields.

Run from the repository root (``make bench`` runs it with ``--write``)::

    .venv/bin/python bench/bench_work_scale.py [--sizes 1,10,100,1000,1900] [--fields 7,30,100,300,1000] [--write]

**Envelope size.** The sandbox ЕСИА with its СМЭВ node (reg_service answering at once) and one bridge
process (``log_level: WARNING``, a signing key of its own registered at the node) run on loopback, and
the ceiling (``bench/_ceiling.py``, one process) beside it; both sign a SendRequest and verify the
answer for every call. A CheckPatient envelope is padded to
each size with a SOAP Header entry the bridge does not know (no ``mustUnderstand``: SOAP 1.1 §4.2.1
lets a receiver ignore it), as a МИС's framework adds trace or security headers; the Body is the same
valid CheckPatient with a new SNILS per call (a repeated one would be answered from the bridge's
journal), so every answer is checked to be NOT_FOUND. Calls go one at a time; per size:
wall time per call (median), CPU per call of the process, the most one call raised its resident
memory above what it held before that call (``VmHWM`` reset through ``/proc/PID/clear_refs`` before
each call; needs root or the process's owner), and the memory kept after the size's calls.

**Mapping size.** The mapping engine (``bridge.mapping``) converts records of mappings generated with
N fields (the account mapping's field kinds in turn: plain, a date, a phone, a table), on one thread;
time per record and per field, both directions.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _ceiling import SmevTarget  # noqa: E402
from _ceiling import start as start_ceiling  # noqa: E402
from _load import varied_snils  # noqa: E402
from _procs import Bridge, start_bridge_from, start_sandbox_from  # noqa: E402
from _report import describe_tree, machine, machine_line, write_section  # noqa: E402
from bench_check_patient import bench_patient, registered_key, smev_settings, soap_envelope  # noqa: E402

from bridge.mapping import load_mapping  # noqa: E402

SECTION = "work_scale"
PACKAGES = ("spyne", "lxml", "uvicorn", "httpx")
HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"CheckPatient"'}


def padded(size: int) -> bytes:
    """A valid CheckPatient envelope of ``size`` bytes, padded in a SOAP Header entry."""
    base = soap_envelope(bench_patient())
    header = b'<soapenv:Header><x:Trace xmlns:x="urn:bench:trace"></x:Trace></soapenv:Header>'
    filler = max(0, size - len(base) - len(header))
    line = b"0123456789abcdef " * 3 + b"\n"
    text = (line * (filler // len(line) + 1))[:filler]
    return base.replace(b"<soapenv:Body>", header.replace(b"></x:Trace>", b">" + text + b"</x:Trace>") +
                        b"<soapenv:Body>", 1)


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


_calls = itertools.count()


def with_new_snils(body: bytes) -> bytes:
    """The envelope with a SNILS no call has used yet (same length)."""
    return body.replace(bench_patient()["Snils"].encode(), varied_snils(next(_calls)).encode(), 1)


def envelope_row(target: Bridge, body: bytes, calls: int) -> dict[str, float]:
    url = f"{target.url}/soap/esia-accounts"
    with httpx.Client(timeout=30) as client:
        client.post(url, content=with_new_snils(body), headers=HEADERS)  # warm, unrecorded
        rss_start = _status(target.pid, "VmRSS")
        cpu, walls, peaks = 0.0, [], []
        for _ in range(calls):
            rss_before = _status(target.pid, "VmRSS")
            Path(f"/proc/{target.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
            call = with_new_snils(body)
            cpu_before = target.cpu_seconds()
            started = time.perf_counter()
            answer = client.post(url, content=call, headers=HEADERS)
            walls.append((time.perf_counter() - started) * 1000)
            cpu += target.cpu_seconds() - cpu_before
            peaks.append(max(0, _status(target.pid, "VmHWM") - rss_before))
            if answer.status_code != 200 or b"NOT_FOUND" not in answer.content:
                raise SystemExit(f"{target.label}: {len(body)} bytes: HTTP {answer.status_code} {answer.text[:500]}")
    kept = _status(target.pid, "VmRSS") - rss_start
    return {"wall": statistics.median(walls), "cpu": cpu * 1000 / calls, "peak_kb": max(peaks), "kept_kb": kept}


def generated_mapping(fields: int, work: Path) -> Path:
    kinds: list[tuple[dict[str, Any], str, str]] = [
        ({}, "Иванова", "Иванова"),
        ({"transform": "date_ru_iso"}, "17.08.1979", "1979-08-17"),
        ({"transform": "phone_ru"}, "89161234567", "+7(916)1234567"),
        ({"table": {"1": "M", "2": "F"}}, "2", "F"),
    ]
    spec: list[dict[str, Any]] = []
    mis: dict[str, str] = {}
    upstream: dict[str, str] = {}
    for n in range(fields):
        extra, mis_value, up_value = kinds[n % len(kinds)]
        spec.append({"mis": f"Field{n:04d}", "upstream": f"field{n:04d}", "label": f"Поле {n}", **extra})
        mis[f"Field{n:04d}"], upstream[f"field{n:04d}"] = mis_value, up_value
    path = work / f"generated_{fields}.yaml"
    path.write_text(yaml.safe_dump({"mapping": f"bench.generated{fields}", "description": "bench",
                                    "fields": spec, "examples": [{"name": "one", "mis": mis,
                                                                  "upstream": upstream}]},
                                   allow_unicode=True), encoding="utf-8")
    return path


def mapping_row(path: Path, seconds: float = 0.4) -> dict[str, float]:
    mapping = load_mapping(path)
    example = yaml.safe_load(path.read_text(encoding="utf-8"))["examples"][0]
    out = {}
    for direction, record in (("to_upstream", example["mis"]), ("to_mis", example["upstream"])):
        convert = getattr(mapping, direction)
        best = float("inf")
        for _ in range(3):
            n, started = 0, time.process_time()
            while time.process_time() - started < seconds / 3:
                for _ in range(20):
                    convert(record)
                n += 20
            best = min(best, (time.process_time() - started) / n)
        out[direction] = best * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,100,1000,1900", help="envelope sizes, KB (the limit is 2,048)")
    parser.add_argument("--fields", default="7,30,100,300,1000", help="fields per generated mapping")
    parser.add_argument("--write", action="store_true", help="replace the work_scale section of the doc")
    args = parser.parse_args()
    command = " ".join(["python bench/bench_work_scale.py", shlex.join(sys.argv[1:])]).strip()
    sizes = [int(x) * 1024 for x in args.sizes.split(",")]
    envelope_rows = []
    with tempfile.TemporaryDirectory(prefix="bench-work-scale-") as tmp:
        work = Path(tmp)
        sandbox = start_sandbox_from(ROOT, work / "sandbox", ("esia",))
        targets: list[Bridge] = []
        try:
            adapter, smev, node = smev_settings(sandbox)
            esia = sandbox.sandbox_urls["esia"]
            reg_service = httpx.get(f"{esia}/_sandbox/reg-service", timeout=10).json()
            httpx.put(f"{esia}/_sandbox/reg-service", json={**reg_service, "delay_seconds": 0},
                      timeout=10).raise_for_status()
            signer = registered_key(work / "keys" / "bridge", node, smev["signer"]["kind"])
            targets.append(start_bridge_from(ROOT, work / "bridge", "bridge", sandbox, extra={
                "adapter_settings": {adapter: {"smev": {**smev, "signer": signer}}}}))
            targets.append(start_ceiling(ROOT, work / "ceiling", SmevTarget.of_sandbox(node, smev), 1))
            for size in sizes:
                body = padded(size)
                calls = max(30, min(100, 30 * 1024 * 1024 // size))
                load = os.getloadavg()[0]
                row = {t.label: envelope_row(t, body, calls) for t in targets}  # interleaved by size
                envelope_rows.append((len(body), calls, row, load))
                print(f"  {len(body):>9,} B × {calls}: " + "  ".join(
                    f"{k} {v['wall']:.2f} ms wall {v['cpu']:.2f} ms CPU +{v['peak_kb']:,.0f} KB peak "
                    f"+{v['kept_kb']:,.0f} KB kept"
                    for k, v in row.items()) + f"  load {load:.1f}", flush=True)
        finally:
            for target in targets:
                target.stop()
            sandbox.stop()
        mapping_rows = []
        for fields in (int(x) for x in args.fields.split(",")):
            mapping_rows.append((fields, mapping_row(generated_mapping(fields, work)), os.getloadavg()[0]))
            print(f"  mapping {fields:5} fields: {mapping_rows[-1][1]}", flush=True)
    info = machine()
    out = [
        f"Run: {info['date']} · `{command}` · tree {describe_tree(ROOT)}", "",
        f"{machine_line(info, PACKAGES)}. Shared machine: compare rows of this run with each other; "
        "**load** = 1-minute load average when the row started.", "",
        "**Envelope size** — CheckPatient padded with an unknown SOAP Header entry, calls one at a time; "
        "bridge (one process) and ceiling (`bench/_ceiling.py`, one process) interleaved size by size. "
        "**Peak** = the most one call raised the process's resident memory above what it held right before "
        "that call (VmHWM reset before each call), over the size's calls; **kept** = resident memory after "
        "the size's calls minus before them (memory the process did not give back).", "",
        "| envelope | calls | bridge ms per call | bridge CPU ms "
        "| bridge CPU µs per KB above the first row (from 0.5 MB) | bridge peak per call KB | bridge kept KB "
        "| ceiling ms per call | ceiling CPU ms | ceiling peak per call KB | ceiling kept KB | load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    first_size, first_cpu = envelope_rows[0][0], envelope_rows[0][2]["bridge"]["cpu"]
    for size, calls, row, load in envelope_rows:
        b, c = row["bridge"], row["ceiling"]
        # below ~0.5 MB the parse's few ms drown in the signatures' ±20 ms of CPU per call
        marginal = (f"{1000 * (b['cpu'] - first_cpu) / ((size - first_size) / 1024):.2f}"
                    if size - first_size >= 512 * 1024 else "—")
        out.append(f"| {size / 1024:,.0f} KB | {calls} | {b['wall']:.2f} | {b['cpu']:.2f} | "
                   f"{marginal} | {b['peak_kb']:,.0f} | {b['kept_kb']:,.0f} | {c['wall']:.2f} | {c['cpu']:.2f} | "
                   f"{c['peak_kb']:,.0f} | {c['kept_kb']:,.0f} | {load:.1f} |")
    out += ["", "**Mapping size** — generated mappings (plain, date, phone and table fields in turn), one record "
            "converted again and again on one thread; CPU time per record (best of 3).", "",
            "| fields | to_upstream µs per record | µs per field | to_mis µs per record | µs per field | load |",
            "|---:|---:|---:|---:|---:|---:|"]
    for fields, row_m, load in mapping_rows:
        out.append(f"| {fields:,} | {row_m['to_upstream']:.1f} | {row_m['to_upstream'] / fields:.2f} | "
                   f"{row_m['to_mis']:.1f} | {row_m['to_mis'] / fields:.2f} | {load:.1f} |")
    section = "\n".join(out)
    print(f"\n{section}")
    if args.write:
        write_section(SECTION, section)


if __name__ == "__main__":
    main()
