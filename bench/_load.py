"""Load for the benchmarks: wrk at saturation, and an open-loop generator at a fixed rate."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LUA = Path(__file__).resolve().parent / "wrk" / "request.lua"
IDLE_LIMIT = 2.0  # seconds a pooled connection of the fixed-rate generator may stay idle


@dataclass
class Scenario:
    name: str
    url: str
    method: str
    headers: dict[str, str]
    body: bytes | None
    expect: str
    idempotency: bool = False  # a fresh Idempotency-Key per request, like the bridge sends
    vary_snils: str = ""  # this SNILS in the body replaced by another valid one on every request




@dataclass
class WrkResult:
    rps: float
    p50: float
    p90: float
    p99: float
    cpu_ms_per_req: dict[str, float]
    requests: int
    load: float  # 1-minute load average when the run started
    raw: dict[str, Any] = field(repr=False)


def run_wrk(
    scenario: Scenario, args: argparse.Namespace, duration: float, cpu: dict[str, Callable[[], float]], work: Path
) -> WrkResult:
    """One closed-loop wrk run; ``cpu`` names the processes whose CPU time per request is wanted."""
    body_file = work / f"{scenario.name}.body"
    body_file.write_bytes(scenario.body or b"")
    env = {
        **os.environ,
        "BENCH_METHOD": scenario.method,
        "BENCH_BODY_FILE": str(body_file) if scenario.body is not None else "",
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in scenario.headers.items()),
        "BENCH_EXPECT": scenario.expect,
        "BENCH_IDEMPOTENCY": "1" if scenario.idempotency else "",
        "BENCH_VARY_SNILS": scenario.vary_snils,
    }
    command = [
        "wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration:g}s", "--latency",
        "--timeout", "5s", "-s", str(LUA), scenario.url,
    ]
    load = os.getloadavg()[0]
    cpu_before = {name: probe() for name, probe in cpu.items()}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration + 30)
    cpu_after = {name: probe() for name, probe in cpu.items()}
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
        cpu_ms_per_req={name: (cpu_after[name] - cpu_before[name]) * 1000 / raw["requests"] for name in cpu},
        load=load,
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
    load: float = 0.0


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


def varied_snils(n: int) -> str:
    """A valid SNILS per request number (as bench/wrk/request.lua makes them)."""
    from bridge.identifiers import snils_check_digits

    first9 = f"{300000000 + n % 600000000:09d}"
    return first9 + snils_check_digits(first9)


def _raw_request(scenario: Scenario, key: str | None, counter: int = 0) -> bytes:
    url = urlsplit(scenario.url)
    target = url.path + (f"?{url.query}" if url.query else "")
    headers = {"Host": url.netloc, **scenario.headers}
    if key:
        headers["Idempotency-Key"] = key
    body = scenario.body
    if body is not None and scenario.vary_snils:
        body = body.replace(scenario.vary_snils.encode(), varied_snils(os.getpid() * 7919 + counter).encode(), 1)
    if body is not None:
        headers["Content-Length"] = str(len(body))
    head = f"{scenario.method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + b"\r\n" + (body or b"")


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
        payload = _raw_request(scenario, key, counter)
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
    load = os.getloadavg()[0]
    result = asyncio.run(_fixed_rate(scenario, rate, duration, warmup))
    result.load = load
    return result
