"""CheckPatient waiting on a slow СМЭВ answer: how many calls a worker and an instance hold at once.

Run from the repository root (``make bench`` runs it with ``--write``)::

    .venv/bin/python bench/bench_slow_upstream.py [--latency 2] [--hold SECONDS] [--levels 32,256,1000] \
        [--workers 1,2] [--client-timeout 300] [--set KEY=YAML] [--write]

CheckPatient goes over the sandbox СМЭВ node: the bridge signs a SendRequest (ЭП-ОВ, GOST), the node's
reg_service queues the ``find_account`` answer ``delay_seconds`` after the SendRequest, the bridge's
GetResponse runner takes it, stores it and acknowledges it, and the waiting call answers the МИС. The
sandbox ЕСИА and the node run as one process of their own (``bridge sandbox --write-config``). The
"upstream latency" is the reg_service's ``delay_seconds`` (``PUT {esia}/_sandbox/reg-service``), set
before each level: ``--latency`` (default 2 s), or ``--hold`` seconds in hold mode (below).

For each bridge (``--workers`` 1 = one worker, 2 = one instance on this 2-core host) and each level C, a
fresh bridge is started with a signing key of its own registered at the node (a response queue of its
own), one CheckPatient is answered with no delay (warm-up, and a check that the exchange works), and then
C МИС clients send one CheckPatient each, all at once, each on its own connection, each with a different
valid SNILS (NOT_FOUND expected), and wait up to ``--client-timeout`` seconds (a МИС's HTTP timeout).
The bridge waits for ЕСИА's answer up to ``adapter_settings.esia.answer_wait_seconds``, set to 300 by
default (``--set``), so a slow exchange shows as latency, not as ``Server.AnswerPending``.

Every 100 ms during the run the bench samples:

- **in flight**: МИС requests sent and not yet answered (the bench's own clients count them);
- **sent to СМЭВ**: ``find_account`` SendRequests the node has counted since the burst began
  (``GET {node}/_sandbox/smev/stats``), minus the calls already answered: the calls known to wait on
  a СМЭВ answer rather than on the bridge's CPU;
- the bridge's threads (``/proc``, all processes) and RSS and PSS (all processes; PSS counts the pages
  the forked workers share once);
- ``bridge_soap_parked_calls`` from the bridge's ``/metrics`` (calls waiting for an upstream answer
  without holding a thread), when the bridge exposes it (checked once before the burst; not scraped
  when absent, shown as "—").

**The peak** is the sample with the most calls in flight, ties broken by the most sent to СМЭВ, then the
latest: with every client in flight until the first answer, it is the last moment before the first
answer, when the most calls have been read, signed and sent. Threads and memory are read at that
sample; **KB per call** = PSS growth over idle at the peak ÷ calls in flight at the peak.

Signing costs CPU (pure-Python GOST, several signatures per call on the bridge and the node), so with
many clients the sends alone take a minute or more on 2 cores, and with a short ``--latency`` the first
answers come back while most calls still wait for CPU to be sent. **Hold mode** (``--hold SECONDS``)
sets the delay to SECONDS instead, so that no answer comes back before every client's SendRequest is
sent (the "sent to СМЭВ" column then reaches C): the peak is clean. The delay cannot be lifted once the
requests are queued: the node fixes each answer's time when it takes the SendRequest (``available_at =
now + delay``; bridge/smev/sandbox/_node.py ``send_request``), so ``PUT delay_seconds: 0`` would not
release them; a hold run therefore lasts SECONDS plus the drain. SECONDS must be longer than the sends
take and shorter than ``--client-timeout`` and ``answer_wait_seconds``; the report says whether the
sends were done before the first answer.

The bridge is killed after each level (calls it still holds would otherwise run into the next).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import os
import re
import shlex
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _load import varied_snils  # noqa: E402
from _procs import Bridge, start_bridge_from, start_sandbox_from  # noqa: E402
from _report import describe_tree, machine, machine_line, write_section  # noqa: E402
from bench_check_patient import SOAP_HEADERS, bench_patient, registered_key, smev_settings, soap_envelope  # noqa: E402

SECTION = "slow_upstream"
PACKAGES = ("uvicorn", "uvloop", "httpx", "spyne", "lxml")
TARGET_IN_FLIGHT, TARGET_KB_PER_CALL = 1000, 50
FIND_ACCOUNT = "urn://mincomsvyaz/esia/reg_service/find_account/1.4.1"  # the kind's namespace at the node
PARKED = "bridge_soap_parked_calls"
SAMPLE_EVERY = 0.1
DEFAULT_SET = "adapter_settings={esia: {answer_wait_seconds: 300}}"


@dataclass
class Outcome:
    latency: float
    kind: str  # NOT_FOUND, a faultcode, "timeout", "connection: …"


@dataclass
class Sample:
    at: float  # seconds since the burst began
    in_flight: int
    answered: int
    sent_smev: int  # find_account SendRequests counted at the node since the burst began
    threads: int
    rss_mb: float
    pss_mb: float
    parked: int | None


@dataclass
class Level:
    workers: int
    clients: int
    delay: float
    outcomes: list[Outcome]
    samples: list[Sample]
    rss_idle_mb: float
    pss_idle_mb: float
    threads_idle: int
    parked_exposed: bool
    load: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def peak(self) -> Sample:
        if not self.samples:
            return Sample(0, 0, 0, 0, self.threads_idle, self.rss_idle_mb, self.pss_idle_mb, None)
        return max(self.samples, key=lambda s: (s.in_flight, s.sent_smev - s.answered, s.at))

    @property
    def kb_per_call(self) -> float:
        peak = self.peak
        return 1024 * (peak.pss_mb - self.pss_idle_mb) / peak.in_flight if peak.in_flight else float("inf")

    def sends_done(self) -> float | None:
        """Seconds from the burst to the node's last new find_account SendRequest."""
        final = max((s.sent_smev for s in self.samples), default=0)
        return next((s.at for s in self.samples if s.sent_smev == final), None) if final else None

    def first_answer(self) -> float | None:
        return next((s.at for s in self.samples if s.answered), None)

    def not_found(self) -> int:
        return sum(1 for o in self.outcomes if o.kind == "NOT_FOUND")

    def slowest(self) -> float:
        return max((o.latency for o in self.outcomes if o.kind == "NOT_FOUND"), default=0.0)


class Flight:
    """The clients' count: requests written and answers (of any kind) received."""

    def __init__(self) -> None:
        self.sent = 0
        self.done = 0


async def _one(host: str, port: int, request: bytes, timeout: float, flight: Flight) -> Outcome:
    started = time.monotonic()
    writer = None
    sent = False
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.write(request)
        await writer.drain()
        flight.sent += 1
        sent = True
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout - (time.monotonic() - started))
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
        body = await asyncio.wait_for(reader.readexactly(length), timeout - (time.monotonic() - started))
    except TimeoutError:
        return Outcome(time.monotonic() - started, "timeout")
    except (OSError, asyncio.IncompleteReadError) as exc:
        return Outcome(time.monotonic() - started, f"connection: {type(exc).__name__}")
    finally:
        if sent:
            flight.done += 1
        if writer is not None:
            writer.close()
    elapsed = time.monotonic() - started
    found = re.search(rb"<(?:\w+:)?Result>(\w+)<", body) or re.search(rb"<faultcode>(?:\w+:)?([\w.]+)<", body)
    return Outcome(elapsed, found.group(1).decode() if found else f"HTTP {head.split()[1].decode()}")


async def _burst(url: str, bodies: list[bytes], timeout: float, flight: Flight) -> list[Outcome]:
    host, port = url.split("//", 1)[1].split(":")
    requests = [(f"POST /soap/esia-accounts HTTP/1.1\r\nHost: {host}:{port}\r\n"
                 + "".join(f"{k}: {v}\r\n" for k, v in SOAP_HEADERS.items())
                 + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body for body in bodies]
    return list(await asyncio.gather(*(_one(host, int(port), r, timeout, flight) for r in requests)))


def pss_mb(bridge: Bridge) -> float:
    """Proportional set size of the bridge tree (pages shared by the forked workers counted once)."""
    total = 0
    for pid in bridge.pids():
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def sent_requests(client: httpx.Client, node: str) -> int:
    """find_account SendRequests the node has taken (all senders: the bench's node is its own)."""
    stats = client.get(f"{node}/_sandbox/smev/stats", timeout=5).json()
    return int(stats.get("by_kind", {}).get(FIND_ACCOUNT, {}).get("SendRequest", 0))


def parked_calls(client: httpx.Client, bridge: Bridge) -> int | None:
    """``bridge_soap_parked_calls`` summed over its series, or None when the bridge has no such gauge."""
    try:
        text = client.get(f"{bridge.url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    if f"# TYPE {PARKED} gauge" not in text:
        return None
    values = [float(m.group(1)) for m in re.finditer(rf"(?m)^{PARKED}(?:\{{[^}}]*\}})? (\S+)$", text)]
    return int(sum(values))  # no series yet: nothing parked so far


class Sampler(threading.Thread):
    """Every 100 ms: calls in flight (the clients' count), sent to СМЭВ (the node's count), the bridge's
    threads, RSS and PSS (all processes), and the parked-calls gauge when the bridge has it."""

    def __init__(self, bridge: Bridge, node: str, flight: Flight, sent_before: int, parked: bool) -> None:
        super().__init__(daemon=True)
        self.bridge, self.node, self.flight, self.sent_before, self.parked = bridge, node, flight, sent_before, parked
        self.samples: list[Sample] = []
        self.stopped = threading.Event()
        self.started = time.monotonic()

    def run(self) -> None:
        with httpx.Client() as client:
            while not self.stopped.wait(SAMPLE_EVERY):
                done, sent = self.flight.done, self.flight.sent
                try:
                    smev = sent_requests(client, self.node) - self.sent_before
                except httpx.HTTPError:
                    smev = self.samples[-1].sent_smev if self.samples else 0
                self.samples.append(Sample(
                    at=time.monotonic() - self.started, in_flight=sent - done, answered=done, sent_smev=smev,
                    threads=self.bridge.threads(), rss_mb=self.bridge.rss_mb()[1], pss_mb=pss_mb(self.bridge),
                    parked=parked_calls(client, self.bridge) if self.parked else None))


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def set_delay(esia: str, seconds: float) -> None:
    """The reg_service's answer delay for the SendRequests the node takes from now on."""
    current = httpx.get(f"{esia}/_sandbox/reg-service", timeout=10).json()
    httpx.put(f"{esia}/_sandbox/reg-service", json={**current, "delay_seconds": seconds},
              timeout=10).raise_for_status()


def run_level(args: argparse.Namespace, work: Path, sandbox: Any, workers: int, clients: int,
              first_snils: int) -> Level:
    adapter, smev, node = smev_settings(sandbox)
    esia = sandbox.sandbox_urls["esia"]
    name = f"w{workers}-c{clients}"
    signer = registered_key(work / "keys" / name, node, smev["signer"]["kind"])
    extra = deep_merge(args.extra, {"adapter_settings": {adapter: {"smev": {**smev, "signer": signer}}}})
    bridge = start_bridge_from(ROOT, work / name, f"×{workers}", sandbox, workers=workers, extra=extra)
    try:
        set_delay(esia, 0)
        warm = httpx.post(f"{bridge.url}/soap/esia-accounts", content=soap_envelope(bench_patient()),
                          headers=SOAP_HEADERS, timeout=60)
        if warm.status_code != 200 or "Result>NOT_FOUND<" not in warm.text:
            raise SystemExit(f"{bridge.label}: the warm-up CheckPatient was not answered NOT_FOUND: "
                             f"HTTP {warm.status_code}\n{warm.text[:2000]}\n{bridge.logs()[-3000:]}")
        delay = args.hold or args.latency
        set_delay(esia, delay)
        bodies = [soap_envelope({**bench_patient(), "Snils": varied_snils(first_snils + i)}) for i in range(clients)]
        time.sleep(0.5)
        with httpx.Client() as client:
            exposed = parked_calls(client, bridge) is not None
            sent_before = sent_requests(client, node)
        idle_rss, idle_pss, idle_threads = bridge.rss_mb()[1], pss_mb(bridge), bridge.threads()
        flight = Flight()
        sampler = Sampler(bridge, node, flight, sent_before, exposed)
        load = os.getloadavg()[0]
        sampler.start()
        outcomes = asyncio.run(_burst(bridge.url, bodies, args.client_timeout, flight))
        sampler.stopped.set()
        sampler.join()
        return Level(workers, clients, delay, outcomes, sampler.samples, idle_rss, idle_pss, idle_threads,
                     exposed, load)
    finally:
        tree = bridge.pids()  # the supervisor and its workers: a killed supervisor leaves its workers running
        for pid in reversed(tree):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        bridge.process.wait(10)


def _others(level: Level) -> str:
    counts = Counter(o.kind for o in level.outcomes if o.kind != "NOT_FOUND")
    return ", ".join(f"{n} {kind}" for kind, n in counts.most_common()) or "—"


def _clean(level: Level) -> str:
    """Were all SendRequests taken before the first answer came back (a clean peak)?"""
    done, first = level.sends_done(), level.first_answer()
    if done is None:
        return "—"
    if first is None or done <= first:
        return f"{done:.1f}"
    return f"{done:.1f} (first answer {first:.1f})"


def _parked(level: Level) -> str:
    value = level.peak.parked
    return "—" if not level.parked_exposed or value is None else f"{value:,}"


def render(args: argparse.Namespace, levels: list[Level], info: dict[str, str], command: str) -> str:
    mode = (f"**hold mode**: the reg_service answers `find_account` **{args.hold:g} s** after the SendRequest, so "
            "that no answer comes back before every client's request is sent" if args.hold else
            f"the reg_service answers `find_account` **{args.latency:g} s** after the SendRequest")
    out = [
        f"Run: {info['date']} · `{command}` · tree {describe_tree(ROOT)}", "",
        f"{machine_line(info, PACKAGES)}. CheckPatient over the sandbox СМЭВ node (the sandbox ЕСИА and the node: "
        f"one process of their own); {mode} (`delay_seconds`). A fresh bridge per row (`log_level: WARNING`, "
        "SQLite, a signing key of its own registered at the node), one warm-up call answered at once, then each "
        "МИС client sends one CheckPatient with its own SNILS (NOT_FOUND expected) on its own connection, all at "
        f"once, and waits up to {args.client_timeout:g} s. Settings on top of the defaults: `{args.extra or {}}`. "
        f"Sampled every {SAMPLE_EVERY * 1000:.0f} ms: **in flight** = МИС requests sent and not yet answered "
        "(counted by the clients); **sent to СМЭВ** = `find_account` SendRequests the node took since the burst "
        "began minus the calls answered (calls waiting on a СМЭВ answer, not on the bridge's CPU); **parked** = "
        f"the bridge's `{PARKED}` gauge (calls waiting without a thread; — where the bridge has no such gauge). "
        "**The peak** = the sample with the most calls in flight (ties: the most sent to СМЭВ, then the latest, "
        "i.e. the last moment before the first answer); threads, RSS and PSS (all processes of the bridge; PSS "
        "counts the pages the forked workers share once) at that sample, growth over idle before the burst; "
        "**KB per call** = PSS growth at the peak ÷ calls in flight at the peak. **sends done s** = when the "
        "node took the last SendRequest, after the burst began (with the first answer's time when that came "
        "earlier: the peak then mixes calls waiting on СМЭВ with calls waiting for CPU to be sent). **slowest** = "
        "the slowest NOT_FOUND answer. **load** = 1-minute load average at the start of the burst.", "",
        "| bridge | МИС clients at once | peak: in flight | sent to СМЭВ | parked | threads idle → at peak | "
        "RSS idle MB | RSS growth MB | PSS growth MB | KB per call (PSS) | sends done s | answered NOT_FOUND | "
        "the others saw | slowest s | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for lv in levels:
        peak = lv.peak
        kb = lv.kb_per_call
        out.append(
            f"| `--workers {lv.workers}` | {lv.clients:,} | **{peak.in_flight:,}** | "
            f"{peak.sent_smev - peak.answered:,} | {_parked(lv)} | {lv.threads_idle} → {peak.threads} | "
            f"{lv.rss_idle_mb:.0f} | "
            f"{peak.rss_mb - lv.rss_idle_mb:.1f} | {peak.pss_mb - lv.pss_idle_mb:.1f} | "
            f"{'—' if kb == float('inf') else f'{kb:.0f}'} | {_clean(lv)} | {lv.not_found():,} | {_others(lv)} | "
            f"{lv.slowest():.1f} | {lv.load:.1f} |"
        )
    instance = [lv for lv in levels if lv.workers == max(args.workers)]
    if instance:
        best = max(instance, key=lambda lv: (lv.peak.in_flight, -lv.kb_per_call))
        held, kb = best.peak.in_flight, best.kb_per_call
        out += ["", f"**Goal** (one instance, `--workers {max(args.workers)}`): ≥ {TARGET_IN_FLIGHT:,} calls in flight "
                f"— {held:,} ({best.peak.sent_smev - best.peak.answered:,} of them sent to СМЭВ), "
                f"{'met' if held >= TARGET_IN_FLIGHT else 'not met'}; memory (PSS) growth ≤ {TARGET_KB_PER_CALL} KB "
                f"per call in flight — {kb:.0f} KB, {'met' if kb <= TARGET_KB_PER_CALL else 'not met'}."]
    return "\n".join(out)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=2.0,
                        help="the reg_service's answer delay (delay_seconds), seconds")
    parser.add_argument("--hold", type=float, default=0.0, metavar="SECONDS",
                        help="hold mode: the answer delay is SECONDS instead (longer than the sends take, shorter "
                             "than --client-timeout and answer_wait_seconds), for a clean peak; 0: off")
    parser.add_argument("--levels", default="32,256,1000", help="МИС clients at once, comma-separated")
    parser.add_argument("--workers", default="1,2", help="bridge worker counts, comma-separated")
    parser.add_argument("--client-timeout", type=float, default=300.0, help="a МИС's HTTP timeout, seconds")
    parser.add_argument("--set", action="append", default=[DEFAULT_SET], metavar="KEY=YAML",
                        help="a bridge setting on top of the defaults (repeatable, merged in order over the "
                             f"bench's own: {DEFAULT_SET!r}), e.g. 'soap_threads=1024'")
    parser.add_argument("--write", action="store_true", help="replace the slow_upstream section of the doc")
    args = parser.parse_args()
    import yaml

    args.extra = {}
    for item in args.set:
        key, value = item.split("=", 1)
        args.extra = deep_merge(args.extra, {key: yaml.safe_load(value)})
    args.levels = [int(x) for x in args.levels.split(",")]
    args.workers = [int(x) for x in args.workers.split(",")]
    wait = float((args.extra.get("adapter_settings") or {}).get("esia", {}).get("answer_wait_seconds", 20))
    if args.hold and args.hold >= min(args.client_timeout, wait):
        parser.error(f"--hold {args.hold:g} must be shorter than --client-timeout ({args.client_timeout:g}) and "
                     f"answer_wait_seconds ({wait:g}), or the held calls would time out instead of being answered")
    if args.hold > 600:
        parser.error("--hold: the reg_service takes delay_seconds up to 600")
    return args


def main() -> None:
    args = parse_args()
    command = " ".join(["python bench/bench_slow_upstream.py", shlex.join(sys.argv[1:])]).strip()
    started = time.monotonic()
    levels: list[Level] = []
    with tempfile.TemporaryDirectory(prefix="bench-slow-upstream-") as tmp:
        work = Path(tmp)
        sandbox = start_sandbox_from(ROOT, work / "sandbox", ("esia",))
        try:
            first_snils = 0
            for workers in args.workers:
                for clients in args.levels:
                    level = run_level(args, work, sandbox, workers, clients, first_snils)
                    first_snils += clients
                    levels.append(level)
                    peak = level.peak
                    print(f"  ×{workers} {clients:5} clients: in flight {peak.in_flight:5} (sent to СМЭВ "
                          f"{peak.sent_smev - peak.answered}, parked {_parked(level)})  threads "
                          f"{level.threads_idle}→{peak.threads}  PSS +{peak.pss_mb - level.pss_idle_mb:.1f} MB  "
                          f"sends done {_clean(level)} s  NOT_FOUND {level.not_found()}  others {_others(level)}  "
                          f"slowest {level.slowest():.1f} s  load {level.load:.1f}", flush=True)
        finally:
            sandbox.stop()
    section = render(args, levels, machine(), command)
    print(f"\nwhole run: {time.monotonic() - started:.0f} s\n\n{section}")
    if args.write:
        write_section(SECTION, section)


if __name__ == "__main__":
    main()
