"""CheckPatient through the bridge vs. the sandbox ЕСИА called directly, and GET ?wsdl.

Run from the repository root (``make bench`` runs it with ``--write``)::

    .venv/bin/python bench/bench_check_patient.py [--repeat 3] [--write] [--profile 8]

One run starts ``bridge serve --sandbox`` (tests/bridgeproc.py) with ``log_level: WARNING``
and measures on this machine, side by side:

- saturation (wrk, closed loop, ``-t2 -c32``): req/s and p50/p90/p99 for
  direct   POST find_account JSON straight to the sandbox ЕСИА,
  bridged  POST a CheckPatient SOAP envelope to the bridge (→ one find_account call),
  wsdl     GET /soap/esia-accounts?wsdl;
- a fixed rate of 300 req/s (an open-loop asyncio generator in this script) for direct and
  bridged: p50/p90/p99 and the latency the bridge adds;
- the bridge process: time to /readyz, RSS idle and after each phase, CPU per request.

Every measurement is repeated ``--repeat`` times and the median is reported. Answers are
checked first with httpx and then on every wrk response (HTTP 200 and the expected text);
any error or unexpected answer aborts the run. ``--write`` replaces the section between
the bench:check_patient markers in docs/performance.md. ``--profile SECONDS`` adds one
py-spy profile of the bridge under bridged load and prints its top frames.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.identifiers import snils_check_digits  # noqa: E402
from bridge.mapping import load_mapping  # noqa: E402
from tests.bridgeproc import BridgeProcess, start_bridge  # noqa: E402

DOC = ROOT / "docs" / "performance.md"
LUA = ROOT / "bench" / "wrk" / "request.lua"
START = "<!-- bench:check_patient:start -->"
END = "<!-- bench:check_patient:end -->"
SERVICE = "esia-accounts"
NAMESPACE = "urn:misbridge:esia:accounts:1"
FIND_ACCOUNT = "/reg-service/v1/requests/find_account"
# What RestAccountOperations puts around every request (EsiaSettings defaults).
ROUTING = {"RoutingCode": "DEV", "SnilsOperator": "000-000-600 06", "ra": 1000000001}
SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"CheckPatient"'}
JSON_HEADERS = {"Content-Type": "application/json"}
CLK_TCK = os.sysconf("SC_CLK_TCK")
IDLE_LIMIT = 2.0  # seconds a pooled connection of the fixed-rate generator may stay idle


# --- the request ----------------------------------------------------------------------------


def bench_patient() -> dict[str, str]:
    """A fixed, valid patient (as tests/conftest.py::make_patient, but reproducible)."""
    first9 = "112233445"
    return {
        "MisPatientId": "MIS-bench-0001",
        "LastName": "Тарасенко",
        "FirstName": "Ольга",
        "MiddleName": "Викторовна",
        "BirthDate": "17.08.1979",
        "Snils": first9 + snils_check_digits(first9),
        "MobilePhone": "89161234567",
        "Gender": "2",
    }


def soap_envelope(patient: dict[str, str]) -> bytes:
    fields = "".join(f"<tns:{k}>{v}</tns:{k}>" for k, v in patient.items())
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:tns="{NAMESPACE}"><soapenv:Body><tns:CheckPatient><tns:Patient>{fields}'
        "</tns:Patient></tns:CheckPatient></soapenv:Body></soapenv:Envelope>"
    ).encode()


def find_account_body(patient: dict[str, str]) -> tuple[bytes, dict[str, Any]]:
    """The JSON the bridge itself sends for this patient (same mapping, same routing)."""
    person = load_mapping(ROOT / "mappings" / "esia" / "account.yaml").to_upstream(patient)
    query: dict[str, Any] = {k: person[k] for k in ("snils", "lastName", "firstName", "middleName") if k in person}
    body: dict[str, Any] = {**ROUTING, **query}
    return json.dumps(body, ensure_ascii=False).encode(), person


@dataclass
class Scenario:
    name: str
    url: str
    method: str
    headers: dict[str, str]
    body: bytes | None
    expect: str
    idempotency: bool = False  # a fresh Idempotency-Key per request, like the bridge sends


# --- the bridge process ---------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


# --- wrk ------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    rps: float
    p50: float
    p90: float
    p99: float
    cpu_ms_per_req: float
    requests: int
    raw: dict[str, Any] = field(repr=False)


def run_wrk(scenario: Scenario, args: argparse.Namespace, duration: float, pid: int, work: Path) -> WrkResult:
    body_file = work / f"{scenario.name}.body"
    body_file.write_bytes(scenario.body or b"")
    env = {
        **os.environ,
        "BENCH_METHOD": scenario.method,
        "BENCH_BODY_FILE": str(body_file) if scenario.body is not None else "",
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in scenario.headers.items()),
        "BENCH_EXPECT": scenario.expect,
        "BENCH_IDEMPOTENCY": "1" if scenario.idempotency else "",
    }
    command = [
        "wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration:g}s", "--latency",
        "--timeout", "5s", "-s", str(LUA), scenario.url,
    ]
    cpu_before = cpu_seconds(pid)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration + 30)
    cpu_after = cpu_seconds(pid)
    output = done.stdout + done.stderr
    match = re.search(r"^BENCH_JSON (\{.*\})$", output, re.M)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"wrk failed for {scenario.name} (exit {done.returncode}):\n{output}")
    raw = json.loads(match.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    problems = {
        k: raw[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts", "unexpected")
        if raw[k]
    }
    if non2xx:
        problems["Non-2xx or 3xx responses"] = int(non2xx.group(1))
    if problems or raw["requests"] == 0:
        raise SystemExit(f"BENCHMARK OF ERRORS: {scenario.name}: {problems or 'no requests'}\n{output}")
    seconds = raw["duration_us"] / 1e6
    return WrkResult(
        rps=raw["requests"] / seconds,
        p50=raw["p50_us"] / 1000,
        p90=raw["p90_us"] / 1000,
        p99=raw["p99_us"] / 1000,
        cpu_ms_per_req=(cpu_after - cpu_before) * 1000 / raw["requests"],
        requests=raw["requests"],
        raw=raw,
    )


# --- fixed-rate load (open loop) ------------------------------------------------------------


@dataclass
class RateResult:
    achieved: float
    p50: float
    p90: float
    p99: float
    lag_p99: float  # how late the generator sent, ms (its own accuracy)
    connections: int
    requests: int


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip().lower()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        body = b"".join(p[:-2] for p in parts)
    else:
        body = await reader.read()
    return status, body, headers.get("connection") == "close"


def _raw_request(scenario: Scenario, key: str | None) -> bytes:
    url = urlsplit(scenario.url)
    target = url.path + (f"?{url.query}" if url.query else "")
    headers = {"Host": url.netloc, **scenario.headers}
    if key:
        headers["Idempotency-Key"] = key
    if scenario.body is not None:
        headers["Content-Length"] = str(len(scenario.body))
    head = f"{scenario.method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + b"\r\n" + (scenario.body or b"")


async def _fixed_rate(scenario: Scenario, rate: float, duration: float, warmup: float) -> RateResult:
    """Send at ``rate``/s on schedule, whatever the answers do (a new connection if none is free).

    Latency runs from the moment the request is written to the last byte of the answer; the
    generator never waits for a free connection, so a slow server shows up as latency, not as
    fewer requests (no coordinated omission). ``lag_p99`` says how late the generator itself was.
    """
    url = urlsplit(scenario.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    loop = asyncio.get_running_loop()
    # (reader, writer, last used); uvicorn closes a keep-alive connection idle for 5 s, so a
    # connection idle for more than IDLE_LIMIT is dropped instead of reused.
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
    opened = 0
    latencies: list[float] = []
    lags: list[float] = []
    failures: list[str] = []
    expect = scenario.expect.encode()
    counter = 0

    async def one(intended: float, record: bool) -> None:
        nonlocal opened, counter
        counter += 1
        key = f"bench-rate-{os.getpid()}-{counter}" if scenario.idempotency else None
        payload = _raw_request(scenario, key)
        now = loop.time()
        while idle and now - idle[0][2] > IDLE_LIMIT:
            idle.pop(0)[1].close()
        if idle:
            reader, writer, _ = idle.pop()
        else:
            reader, writer = await asyncio.open_connection(host, port)
            opened += 1
        sent = loop.time()
        try:
            writer.write(payload)
            status, body, close = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError) as exc:
            failures.append(type(exc).__name__)
            writer.close()
            return
        elapsed = loop.time() - sent
        if status != 200 or expect not in body:
            failures.append(f"HTTP {status}")
        if close:
            writer.close()
        else:
            idle.append((reader, writer, loop.time()))
        if record:
            latencies.append(elapsed)
            lags.append(max(0.0, sent - intended))

    for _ in range(4):  # a few warm connections, as a client with a pool would have
        idle.append((*await asyncio.open_connection(host, port), loop.time()))
        opened += 1
    tasks: list[asyncio.Task[None]] = []
    total = int(rate * (warmup + duration))
    warm = int(rate * warmup)
    start = loop.time() + 0.05
    for i in range(total):
        intended = start + i / rate
        delay = intended - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(intended, i >= warm)))
    await asyncio.gather(*tasks)
    measured_span = loop.time() - (start + warm / rate)
    for _, writer, _ in idle:
        writer.close()
    if failures:
        raise SystemExit(f"BENCHMARK OF ERRORS: fixed rate {scenario.name}: {Counter(failures).most_common(5)}")
    quantiles = statistics.quantiles(latencies, n=1000, method="inclusive")
    lag_q = statistics.quantiles(lags, n=100, method="inclusive")
    return RateResult(
        achieved=len(latencies) / measured_span,
        p50=quantiles[499] * 1000,
        p90=quantiles[899] * 1000,
        p99=quantiles[989] * 1000,
        lag_p99=lag_q[98] * 1000,
        connections=opened,
        requests=len(latencies),
    )


def run_fixed_rate(scenario: Scenario, rate: float, duration: float, warmup: float) -> RateResult:
    return asyncio.run(_fixed_rate(scenario, rate, duration, warmup))


# --- profile --------------------------------------------------------------------------------


def profile(bridge: BridgeProcess, bridged: Scenario, args: argparse.Namespace, work: Path) -> list[str]:
    """One py-spy record (GIL holder only) of the bridge under bridged wrk load; top frames."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        return ["py-spy is not installed (.venv/bin/pip install py-spy); no profile taken."]
    out = work / "profile.txt"
    env = {
        **os.environ, "BENCH_METHOD": bridged.method, "BENCH_BODY_FILE": str(work / "bridged.body"),
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in bridged.headers.items()),
        "BENCH_EXPECT": bridged.expect, "BENCH_IDEMPOTENCY": "",
    }
    (work / "bridged.body").write_bytes(bridged.body or b"")
    wrk = subprocess.Popen(
        ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.profile + 3:g}s", "-s", str(LUA), bridged.url],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(1)
    spy = subprocess.run(
        [py_spy, "record", "--pid", str(bridge.process.pid), "--duration", str(int(args.profile)), "--rate", "250",
         "--gil", "--format", "raw", "--output", str(out), "--nonblocking"],
        capture_output=True, text=True,
    )
    wrk.wait()
    if spy.returncode != 0 or not out.exists():
        return [f"py-spy could not profile the bridge: {(spy.stderr or spy.stdout).strip()[:300]}"]
    return summarise_profile(out.read_text())


def _frame_name(frame: str) -> str:
    # py-spy raw frames: "function (path/to/file.py:line)"
    m = re.match(r"^(.*) \((.*?)(?::\d+)?\)$", frame)
    if not m:
        return frame
    function, path = m.groups()
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{function} ({path})"


def _area(stack: list[str]) -> str:
    """Which part of the bridge a sample belongs to, by the innermost recognisable frame."""
    rules = [
        ("MethodContext.close", "spyne: gc.collect() forced once a second (MethodContext.close)"),
        ("spyne/protocol/soap", "spyne: SOAP parse/serialise"), ("lxml", "spyne: SOAP parse/serialise"),
        ("spyne/", "spyne: other"), ("adapters/esia/sandbox", "sandbox ЕСИА (in-process peer)"),
        ("httpx", "httpx client (call to ЕСИА)"), ("httpcore", "httpx client (call to ЕСИА)"),
        ("tenacity", "delivery: retry/breaker"), ("pybreaker", "delivery: retry/breaker"),
        ("structlog", "logging"), ("logging/", "logging"), ("prometheus_client", "metrics"),
        ("bridge/mapping", "mapping"), ("a2wsgi", "a2wsgi (ASGI→WSGI thread hop)"),
        ("uvicorn", "uvicorn/h11 HTTP server"), ("h11", "uvicorn/h11 HTTP server"),
        ("starlette", "starlette/fastapi routing"), ("fastapi", "starlette/fastapi routing"),
        ("pydantic", "starlette/fastapi routing"), ("asyncio", "asyncio event loop"),
        ("concurrent/futures", "thread pool handoffs"), ("threading.py", "thread pool handoffs"),
    ]
    for frame in reversed(stack):
        for needle, area in rules:
            if needle in frame:
                return area
    return "other"


def summarise_profile(raw: str, top: int = 12) -> list[str]:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        stack = stack_text.split(";")
        total += count
        self_time[_frame_name(stack[-1])] += count
        for name in {_frame_name(f) for f in stack}:
            inclusive[name] += count
        areas[_area(stack)] += count
    if not total:
        return ["py-spy recorded no samples."]
    lines = [f"{total} samples with the GIL held; by area (innermost recognisable frame):"]
    lines += [f"  {100 * n / total:5.1f}%  {area}" for area, n in areas.most_common()]
    lines.append("top self time:")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in self_time.most_common(top)]
    lines.append("top inclusive time (bridge and spyne frames):")
    interesting = [
        (name, n) for name, n in inclusive.most_common()
        if any(k in name for k in ("bridge/", "adapters/", "spyne/", "httpx/", "a2wsgi"))
        and "bridge/cli/" not in name and "bridge/__main__" not in name
    ]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in interesting[:top]]
    return lines


# --- report ---------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    wrk_line = (wrk_version.stdout + wrk_version.stderr).splitlines()[0]
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "wrk": wrk_line.split(" Copyright")[0].strip(),
        "kernel": platform.release(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def fmt_ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def render(
    args: argparse.Namespace,
    sat: dict[str, list[WrkResult]],
    rate: dict[str, list[RateResult]],
    process: dict[str, Any],
    info: dict[str, str],
    command: str,
) -> str:
    n = args.repeat
    out = [
        f"Run: {info['date']} · `{command}`",
        "",
        f"Machine: {info['nproc']} CPU × {info['cpu']} · Linux {info['kernel']} · Python {info['python']} · "
        f"{info['wrk']}. Bridge: one process (`bridge serve --sandbox`, 1 uvicorn worker, sandbox ЕСИА "
        f"in the same process and event loop), `log_level: {args.log_level}`. Outcome of every CheckPatient: "
        f"`{process['outcome']}`.",
        "",
        f"**Saturation** — wrk `-t{args.threads} -c{args.connections} -d{args.duration:g}s`, "
        f"median of {n} runs (req/s shows min–max). CPU = bridge process CPU time per request.",
        "",
        "| scenario | req/s | req/s min–max | p50 ms | p90 ms | p99 ms | CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {
        "direct": "direct: find_account → sandbox ЕСИА",
        "bridged": "bridged: CheckPatient SOAP → bridge → ЕСИА",
        "wsdl": "wsdl: GET ?wsdl",
    }
    for name in ("direct", "bridged", "wsdl"):
        runs = sat[name]
        rps = [r.rps for r in runs]
        out.append(
            f"| {labels[name]} | {median(rps):,.0f} | {min(rps):,.0f}–{max(rps):,.0f} | "
            f"{fmt_ms(median([r.p50 for r in runs]))} | {fmt_ms(median([r.p90 for r in runs]))} | "
            f"{fmt_ms(median([r.p99 for r in runs]))} | {median([r.cpu_ms_per_req for r in runs]):.2f} |"
        )
    d, b = sat["direct"], sat["bridged"]
    cpu_added = median([r.cpu_ms_per_req for r in b]) - median([r.cpu_ms_per_req for r in d])
    out += [
        "",
        f"Bridged/direct throughput: {median([r.rps for r in b]) / median([r.rps for r in d]):.2f}×; "
        f"CPU the bridge adds per CheckPatient (bridged − direct): {cpu_added:.2f} ms "
        f"(≈ {1000 / cpu_added:,.0f} req/s per core if the ЕСИА peer were elsewhere)."
        if cpu_added > 0 else "",
        "",
        f"**Fixed rate {args.rate:g} req/s** — open-loop asyncio generator in the bench script "
        f"(latency from write to last byte, new connection when none is free), "
        f"{args.rate_duration:g} s after {args.rate_warmup:g} s warm-up, median of {n} runs.",
        "",
        "| scenario | achieved req/s | p50 ms | p90 ms | p99 ms | generator lag p99 ms | connections |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("direct", "bridged"):
        fixed = rate[name]
        out.append(
            f"| {name} | {median([r.achieved for r in fixed]):,.0f} | {fmt_ms(median([r.p50 for r in fixed]))} | "
            f"{fmt_ms(median([r.p90 for r in fixed]))} | {fmt_ms(median([r.p99 for r in fixed]))} | "
            f"{fmt_ms(median([r.lag_p99 for r in fixed]))} | {max(r.connections for r in fixed)} |"
        )
    added50 = median([r.p50 for r in rate["bridged"]]) - median([r.p50 for r in rate["direct"]])
    added99 = median([r.p99 for r in rate["bridged"]]) - median([r.p99 for r in rate["direct"]])
    out.append(f"| **added by the bridge** | | **{added50:+.2f}** | | **{added99:+.2f}** | | |")
    rss = process["rss"]
    out += [
        "",
        "**Bridge process**",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| start → /readyz 200 (polled every 0.1 s) | {process['ready_s']:.2f} s |",
        *(f"| RSS {phase} | {mb:.0f} MB |" for phase, mb in rss),
        f"| threads after load | {process['threads']} |",
        f"| requests served in the run | {process['requests']:,} |",
        f"| bridge log during the run (`log_level: {args.log_level}`) | {process['log_lines']} lines, "
        f"{process['log_bytes']:,} bytes ({process['log_levels']}) |",
    ]
    if process.get("profile"):
        out += ["", "**Profile** (py-spy, bridged load):", "", "```", *process["profile"], "```"]
    return "\n".join(out).replace("\n\n\n", "\n\n")


def write_doc(section: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{DOC} has no {START} … {END} section")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{section}\n{END}{tail}", encoding="utf-8")


# --- main -----------------------------------------------------------------------------------


def verify(scenarios: dict[str, Scenario]) -> str:
    """Each request once with httpx: a benchmark of errors is worthless."""
    outcome = ""
    for s in scenarios.values():
        headers = dict(s.headers)
        if s.idempotency:
            headers["Idempotency-Key"] = "bench-verify"
        r = httpx.request(s.method, s.url, content=s.body, headers=headers, timeout=10)
        if r.status_code != 200 or s.expect not in r.text:
            raise SystemExit(f"{s.name}: HTTP {r.status_code}, expected {s.expect!r} in:\n{r.text[:2000]}")
        if s.name == "bridged":
            outcome = re.search(r"<(?:\w+:)?Result>(\w+)<", r.text).group(1)  # type: ignore[union-attr]
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median reported)")
    parser.add_argument("--duration", type=float, default=8, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of unrecorded wrk load per scenario")
    parser.add_argument("--rate", type=float, default=300, help="fixed-rate requests per second")
    parser.add_argument("--rate-duration", type=float, default=8, help="seconds per fixed-rate run")
    parser.add_argument("--rate-warmup", type=float, default=1, help="unrecorded seconds before each fixed-rate run")
    parser.add_argument("--match", action="store_true", help="seed the account so CheckPatient answers MATCH")
    parser.add_argument("--log-level", default="WARNING", help="bridge log_level (keep WARNING for numbers)")
    parser.add_argument("--profile", type=float, default=0, help="seconds of py-spy profile under bridged load")
    parser.add_argument("--write", action="store_true", help=f"replace the results section in {DOC.name}")
    args = parser.parse_args()
    command = " ".join(["python bench/bench_check_patient.py", shlex.join(sys.argv[1:])]).strip()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    patient = bench_patient()
    find_body, person = find_account_body(patient)
    with tempfile.TemporaryDirectory(prefix="bench-check-patient-") as tmp:
        work = Path(tmp)
        started = time.monotonic()
        bridge = start_bridge(work, {"log_level": args.log_level})
        ready_s = time.monotonic() - started
        pid = bridge.process.pid
        try:
            time.sleep(0.5)
            rss = [("idle (after /readyz)", rss_mb(pid))]
            esia = bridge.sandbox_urls["esia"]

            def reset_sandbox() -> None:
                """Empty the sandbox's in-memory store (it keeps every request, ~0.5 KB each)."""
                httpx.post(f"{esia}/_sandbox/reset", timeout=10).raise_for_status()
                if args.match:
                    account = {k: person[k] for k in ("snils", "lastName", "firstName", "middleName",
                                                      "birthDate", "gender", "mobile") if k in person}
                    httpx.post(f"{esia}/_sandbox/accounts", json=account, timeout=10).raise_for_status()

            reset_sandbox()
            expected = "MATCH" if args.match else "NOT_FOUND"
            scenarios = {
                "direct": Scenario("direct", esia + FIND_ACCOUNT, "POST", JSON_HEADERS, find_body,
                                   '"status":"SUCCEEDED"', idempotency=True),
                "bridged": Scenario("bridged", f"{bridge.url}/soap/{SERVICE}", "POST", SOAP_HEADERS,
                                    soap_envelope(patient), f"Result>{expected}</"),
                "wsdl": Scenario("wsdl", bridge.wsdl_url(SERVICE), "GET", {}, None, "</wsdl:definitions>"),
            }
            outcome = verify(scenarios)
            print(f"bridge ready in {ready_s:.2f} s, RSS {rss[0][1]:.0f} MB; checked answers ({outcome})",
                  flush=True)
            requests = 0
            sat: dict[str, list[WrkResult]] = {}
            for name in ("wsdl", "direct", "bridged"):
                s = scenarios[name]
                run_wrk(s, args, args.warmup, pid, work)
                reset_sandbox()
                sat[name] = []
                for i in range(args.repeat):
                    result = run_wrk(s, args, args.duration, pid, work)
                    reset_sandbox()
                    sat[name].append(result)
                    requests += result.requests
                    print(f"  {name:8} run {i + 1}: {result.rps:8,.0f} req/s  p50 {result.p50:6.2f}  "
                          f"p99 {result.p99:6.2f} ms  cpu {result.cpu_ms_per_req:.2f} ms/req  "
                          f"RSS {rss_mb(pid):.0f} MB", flush=True)
                rss.append((f"after {name} saturation", rss_mb(pid)))
            rate: dict[str, list[RateResult]] = {"direct": [], "bridged": []}
            for i in range(args.repeat):
                for name in ("direct", "bridged"):
                    r = run_fixed_rate(scenarios[name], args.rate, args.rate_duration, args.rate_warmup)
                    reset_sandbox()
                    rate[name].append(r)
                    requests += r.requests
                    print(f"  {name:8} {args.rate:g}/s run {i + 1}: achieved {r.achieved:6.1f}/s  "
                          f"p50 {r.p50:6.2f}  p99 {r.p99:6.2f} ms  lag p99 {r.lag_p99:.2f} ms", flush=True)
            rss.append(("after fixed-rate runs", rss_mb(pid)))
            time.sleep(2)
            rss.append(("2 s after load", rss_mb(pid)))
            log = bridge.logs()
            process = {
                "ready_s": ready_s,
                "rss": rss,
                "threads": threads(pid),
                "requests": requests,
                "log_lines": len(log.splitlines()),
                "log_bytes": len(log.encode()),
                "outcome": outcome,
                "profile": profile(bridge, scenarios["bridged"], args, work) if args.profile else None,
            }
            levels = Counter(re.findall(r'"level": ?"(\w+)"', log))
            process["log_levels"] = ", ".join(f"{n} {level}" for level, n in levels.most_common()) or "none"
            if levels:
                print(f"bridge log during the run: {dict(levels)}; last line:")
                print(log.splitlines()[-1][:600])
        except SystemExit:
            alive = "running" if bridge.process.poll() is None else f"exited with {bridge.process.returncode}"
            print(f"bridge process {alive}; its log ends with:\n{bridge.logs()[-3000:]}", file=sys.stderr)
            raise
        finally:
            bridge.stop()
    section = render(args, sat, rate, process, machine(), command)
    print(f"\nwhole run: {time.monotonic() - started:.0f} s")
    print(section)
    if args.write:
        write_doc(section)
        print(f"\nwrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
