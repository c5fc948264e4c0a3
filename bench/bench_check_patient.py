"""CheckPatient over the sandbox СМЭВ: the bridge (before and after) against the lean ceiling; GET ?wsdl.

Run from the repository root (``make bench`` runs it with ``--write``)::

    .venv/bin/python bench/bench_check_patient.py [--repeat 3] [--workers 2] [--baseline REF] [--write]

One run starts, on loopback:

- the sandbox ЕСИА and the sandbox СМЭВ node in front of its reg_service as one process of their own
  (``bridge sandbox --write-config``), so that what a bridge process spends is the bridge's alone; the
  reg_service's answer delay is set to 0 first (``PUT /_sandbox/reg-service``), so the figures are the
  exchange's cost, not ЕСИА's thinking time; every bridge, the ceiling's workers and the direct scenario
  get a signing key of their own registered at the node (``POST /_sandbox/smev/senders``: a response
  queue each, so no one's GetResponse takes another's answers), of the signer kind the sandbox
  configuration gives the bridge;
- **before**: ``bridge serve`` (one process, or ``--workers N`` with ``--baseline-workers N``) from
  commit ``--baseline`` (``git archive``), when given: it must speak СМЭВ to ЕСИА (a commit from the
  СМЭВ merge on; the REST-era commits call routes the sandbox no longer has), measured with as many
  workers as "after ×N" to compare one change with the commit before it;
- **after ×1**: ``bridge serve`` from this tree, one process;
- **after ×N**: ``bridge serve --workers N`` from this tree;

all with ``log_level: WARNING`` and the esia adapter, against the same sandbox. It then measures,
interleaving the scenarios run by run so that a busy machine slows them all alike:

- saturation (wrk, closed loop, ``-t2 -c4``): req/s, p50/p90/p99, CPU per request of the bridge
  processes and of the sandbox, for direct (one signed GetResponse straight to the node, replayed:
  the node's cheapest signed call, its ЭП-ОВ checked), bridged (a CheckPatient envelope to each
  bridge and to the ceiling, ``bench/_ceiling.py``) and wsdl (GET ?wsdl of before and after ×N);
- a fixed rate (``--rate``, default 2 req/s: signatures in pure Python bound the whole exchange to a
  few calls per second) for the ceiling, before and after ×N: p50/p90/p99 and the latency each
  bridge adds to the ceiling's;
- the processes: time to /readyz, RSS idle and after load, threads.

Every measurement is repeated ``--repeat`` times and the median is reported, with the 1-minute
load average at the start of the runs beside it. Answers are checked first with httpx and then on
every wrk response; any error or unexpected answer aborts the run. ``--write`` replaces the section
between the bench:check_patient markers in docs/performance.md. ``--profile SECONDS`` adds a py-spy
profile of the one-process bridge (after ×1: its request threads and its GetResponse runner) and of
one ceiling worker under load, with the signatures' share of each.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _ceiling import SmevTarget  # noqa: E402
from _ceiling import start as start_ceiling  # noqa: E402
from _ceiling_report import ceiling_line, signature_share  # noqa: E402
from _load import RateResult, Scenario, WrkResult, run_fixed_rate, run_wrk  # noqa: E402
from _procs import Bridge, export_tree, start_bridge_from, start_sandbox_from, wait_quiet  # noqa: E402
from _profile import profile  # noqa: E402
from _report import DOC, describe_tree, machine, machine_line, median, write_section  # noqa: E402

from bridge.identifiers import snils_check_digits  # noqa: E402
from bridge.mapping import load_mapping  # noqa: E402

SECTION = "check_patient"
PACKAGES = ("spyne", "uvicorn", "uvloop", "httptools", "fastapi", "httpx", "lxml", "prometheus_client")
SERVICE = "esia-accounts"
NAMESPACE = "urn:misbridge:esia:accounts:1"
SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"CheckPatient"'}
GET_RESPONSE_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"urn:GetResponse"'}
#: No baseline by default: the commits before the СМЭВ merge (e.g. ed5e131, the last before the
#: performance work) speak a REST API the sandbox ЕСИА no longer has.
DEFAULT_BASELINE = "none"
TARGET_RPS, TARGET_ADDED_P99_MS, TARGET_WSDL_RPS = 1000, 10.0, 3000


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


def smev_settings(sandbox: Any) -> tuple[str, dict[str, Any], str]:
    """The adapter, the ``smev`` settings the sandbox gives the bridge, and the node's base URL."""
    for adapter, values in (sandbox.bridge_config.get("adapter_settings") or {}).items():
        if isinstance(values, dict) and isinstance(values.get("smev"), dict):
            smev = values["smev"]
            return adapter, smev, sandbox.sandbox_urls[smev["upstream"]]
    raise SystemExit("the sandbox gives the bridge no СМЭВ settings: nothing to measure")


def registered_key(directory: Path, node: str, kind: str) -> dict[str, str]:
    """A signing key of its own (``kind``), its certificate registered at the sandbox node: signer settings."""
    from bridge.signing import generate_test_key, load_certificate

    directory.mkdir(parents=True, exist_ok=True)
    key_pem, certificate_pem = generate_test_key(subject=f"/CN=bench {directory.name}/C=RU")
    (directory / "key.pem").write_bytes(key_pem)
    (directory / "cert.pem").write_bytes(certificate_pem)
    der = load_certificate(directory / "cert.pem")
    httpx.post(f"{node}/_sandbox/smev/senders", json={"certificate_der_base64": base64.b64encode(der).decode()},
               timeout=10).raise_for_status()
    return {"kind": kind, "key_file": str(directory / "key.pem"), "certificate_file": str(directory / "cert.pem")}


def signed_get_response(signer_settings: dict[str, str], smev: dict[str, Any]) -> bytes:
    """One GetResponse signed with a registered key whose queue stays empty: replayable (the direct scenario)."""
    from bridge.signing import SignerConfig, load_signer
    from bridge.smev import namespaces
    from bridge.smev._envelopes import get_response

    signer = load_signer(SignerConfig(kind=signer_settings["kind"],  # type: ignore[arg-type]
                                      key_file=Path(signer_settings["key_file"]),
                                      certificate_file=Path(signer_settings["certificate_file"])))
    return get_response(namespaces(smev["schema_version"]), signer, datetime.now(UTC)).body


# --- report ---------------------------------------------------------------------------------


def fmt_ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def fmt_rps(value: float) -> str:
    """Calls per second: a decimal where the СМЭВ exchange makes them few."""
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _cpu(runs: list[WrkResult], name: str) -> str:
    values = [r.cpu_ms_per_req[name] for r in runs if name in r.cpu_ms_per_req]
    return f"{median(values):.2f}" if values else ""


def render(args: argparse.Namespace, run: dict[str, Any], info: dict[str, str], command: str) -> str:
    n = args.repeat
    bridges: dict[str, Bridge] = run["bridges"]
    sat: dict[str, list[WrkResult]] = run["sat"]
    rate: dict[str, list[RateResult]] = run["rate"]
    after = run["after"]
    out = [
        f"Run: {info['date']} · `{command}` · tree {run['tree']}"
        + (f" · baseline `{args.baseline}` ({run['baseline_subject']})" if "before" in bridges else ""),
        "",
        f"{machine_line(info, PACKAGES)}. Every bridge: `log_level: {args.log_level}`, adapters `esia`, SQLite store; "
        "the sandbox ЕСИА is one process of its own; wrk, the bridges and the sandbox share the machine. "
        f"Outcome of every CheckPatient: `{run['outcome']}`. **load** = 1-minute load average at the start of "
        "the runs (median): above ~2 the machine was busy with other work and every figure is lower than "
        "it would be on a quiet machine.",
        "",
        f"**Saturation** — wrk `-t{args.threads} -c{args.connections} -d{args.duration:g}s`, "
        f"median of {n} runs, scenarios interleaved run by run. CPU = process CPU time per request.",
        "",
        "| scenario | req/s | req/s min–max | p50 ms | p90 ms | p99 ms | bridge CPU ms/req | sandbox CPU ms/req "
        "| load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, runs in sat.items():
        rps = [r.rps for r in runs]
        out.append(
            f"| {run['labels'][name]} | {fmt_rps(median(rps))} | {fmt_rps(min(rps))}–{fmt_rps(max(rps))} | "
            f"{fmt_ms(median([r.p50 for r in runs]))} | {fmt_ms(median([r.p90 for r in runs]))} | "
            f"{fmt_ms(median([r.p99 for r in runs]))} | {_cpu(runs, 'bridge')} | {_cpu(runs, 'sandbox')} | "
            f"{median([r.load for r in runs]):.1f} |"
        )
    if "bridged:before" in sat and args.baseline_workers > 1:
        same = f"bridged:{after}"
        ratio = median([r.rps for r in sat[same]]) / median([r.rps for r in sat["bridged:before"]])
        cpu_before = median([r.cpu_ms_per_req["bridge"] for r in sat["bridged:before"]])
        cpu_after = median([r.cpu_ms_per_req["bridge"] for r in sat[same]])
        out += ["", f"Bridged throughput after ×{args.workers} / before ×{args.baseline_workers}: **{ratio:.2f}×**; "
                f"bridge CPU per CheckPatient (all processes) {cpu_before:.2f} → {cpu_after:.2f} ms "
                f"({100 * (cpu_after / cpu_before - 1):+.0f}%)."]
    elif "bridged:before" in sat:
        ratio = median([r.rps for r in sat[f"bridged:{after}"]]) / median([r.rps for r in sat["bridged:before"]])
        per_proc = median([r.rps for r in sat["bridged:after1"]]) / median([r.rps for r in sat["bridged:before"]])
        cpu_before = median([r.cpu_ms_per_req["bridge"] for r in sat["bridged:before"]])
        cpu_after = median([r.cpu_ms_per_req["bridge"] for r in sat["bridged:after1"]])
        out += ["", f"Bridged throughput after ×{args.workers} / before: **{ratio:.2f}×**; one process after / before: "
                f"{per_proc:.2f}×; bridge CPU per CheckPatient {cpu_before:.2f} → {cpu_after:.2f} ms "
                f"({100 * (cpu_after / cpu_before - 1):+.0f}%)."]
    if "bridged:ceiling" in sat:
        out += ["", ceiling_line(args, run, info)]
    out += [
        "",
        f"**Fixed rate {args.rate:g} req/s** — added latency is to the ceiling's (the least any bridge needs "
        "for the same СМЭВ exchange); open-loop asyncio generator in the bench script "
        f"(latency from write to last byte, new connection when none is free), "
        f"{args.rate_duration:g} s after {args.rate_warmup:g} s warm-up, median of {n} runs, interleaved.",
        "",
        "| scenario | achieved req/s | p50 ms | p90 ms | p99 ms | added p50 ms | added p99 ms | generator lag p99 ms "
        "| connections | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    reference = "bridged:ceiling" if "bridged:ceiling" in rate else next(iter(rate))
    direct50 = median([r.p50 for r in rate[reference]])
    direct99 = median([r.p99 for r in rate[reference]])
    for name, fixed in rate.items():
        p50, p99 = median([r.p50 for r in fixed]), median([r.p99 for r in fixed])
        added = ("", "") if name == reference else (f"**{p50 - direct50:+.2f}**", f"**{p99 - direct99:+.2f}**")
        out.append(
            f"| {run['labels'][name]} | {median([r.achieved for r in fixed]):,.0f} | {fmt_ms(p50)} | "
            f"{fmt_ms(median([r.p90 for r in fixed]))} | {fmt_ms(p99)} | {added[0]} | {added[1]} | "
            f"{fmt_ms(median([r.lag_p99 for r in fixed]))} | {max(r.connections for r in fixed)} | "
            f"{median([r.load for r in fixed]):.1f} |"
        )
    out += ["", "**Processes** (RSS: the largest single process / all processes of that bridge)", "",
            "| bridge | processes | start → /readyz 200 | RSS idle MB | RSS after load MB | threads after load |",
            "|---|---:|---:|---:|---:|---:|"]
    for label, bridge in bridges.items():
        idle, loaded = run["rss"][label]
        processes, threads = run["processes"][label]
        out.append(f"| {run['labels'][f'bridged:{label}'].split(': ', 1)[-1]} | {processes} | "
                   f"{bridge.ready_s:.2f} s | {idle[0]:.0f} / {idle[1]:.0f} | {loaded[0]:.0f} / {loaded[1]:.0f} | "
                   f"{threads} |")
    bridged = median([r.rps for r in sat[f"bridged:{after}"]])
    added99 = median([r.p99 for r in rate[f"bridged:{after}"]]) - direct99
    wsdl = median([r.rps for r in sat[f"wsdl:{after}"]])
    out += ["", f"**Targets** (after ×{args.workers}, this run): bridged ≥ {TARGET_RPS:,} req/s — {bridged:,.0f}, "
            f"{'met' if bridged >= TARGET_RPS else 'not met'}; added p99 < {TARGET_ADDED_P99_MS:g} ms at "
            f"{args.rate:g} req/s — {added99:+.1f} ms, {'met' if added99 < TARGET_ADDED_P99_MS else 'not met'}; "
            f"?wsdl ≥ {TARGET_WSDL_RPS:,} req/s — {wsdl:,.0f}, {'met' if wsdl >= TARGET_WSDL_RPS else 'not met'}. "
            f"Requests served in the run: {run['requests']:,}; bridge log lines (all bridges, "
            f"`{args.log_level}`): {run['log_lines']}."]
    if run.get("profile"):
        shares = [f"{who} {signature_share(run[key]):.0f}%" for who, key in
                  (("bridge (after ×1)", "profile"), ("ceiling (one worker)", "ceiling_profile"))
                  if signature_share(run.get(key) or []) is not None]
        out += ["", f"**Signatures' share of CPU** (GOST sign/verify, XMLDSig, c14n and the СМЭВ transform; "
                f"`{run['signer']}` signer; py-spy GIL-holder samples under load): {', '.join(shares)}.",
                "", "**Profile** (py-spy, the one-process bridge, after ×1, under bridged load):", "", "```",
                *run["profile"], "```"]
    if run.get("ceiling_profile"):
        out += ["", "**Profile** (py-spy, one ceiling worker under load):", "", "```", *run["ceiling_profile"], "```"]
    return "\n".join(out).replace("\n\n\n", "\n\n")


# --- main -----------------------------------------------------------------------------------


def verify(scenario: Scenario) -> str:
    """Each request once with httpx: a benchmark of errors is worthless."""
    headers = dict(scenario.headers)
    if scenario.idempotency:
        headers["Idempotency-Key"] = "bench-verify"
    r = httpx.request(scenario.method, scenario.url, content=scenario.body, headers=headers, timeout=10)
    if r.status_code != 200 or scenario.expect not in r.text:
        raise SystemExit(f"{scenario.name}: HTTP {r.status_code}, expected {scenario.expect!r} in:\n{r.text[:2000]}")
    found = re.search(r"<(?:\w+:)?Result>(\w+)<", r.text)
    return found.group(1) if found else ""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median reported)")
    parser.add_argument("--duration", type=float, default=8, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (calls in flight)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of unrecorded wrk load per scenario")
    parser.add_argument("--rate", type=float, default=2, help="fixed-rate requests per second")
    parser.add_argument("--rate-duration", type=float, default=8, help="seconds per fixed-rate run")
    parser.add_argument("--rate-warmup", type=float, default=1, help="unrecorded seconds before each fixed-rate run")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the 'after ×N' bridge")
    parser.add_argument("--baseline", default=DEFAULT_BASELINE,
                        help="commit whose bridge is measured as 'before' (git archive); 'none' to skip")
    parser.add_argument("--baseline-workers", type=int, default=1,
                        help="worker processes of the 'before' bridge (the baseline must know --workers)")
    parser.add_argument("--tree", type=Path, default=ROOT, help="source tree measured as 'after' (default: this one)")
    parser.add_argument("--match", action="store_true", help="seed the account so CheckPatient answers MATCH")
    parser.add_argument("--log-level", default="WARNING", help="bridge log_level (keep WARNING for numbers)")
    parser.add_argument("--profile", type=float, default=0, help="seconds of py-spy profile under bridged load")
    parser.add_argument("--no-ceiling", dest="ceiling", action="store_false",
                        help="leave out the ceiling (bench/_ceiling.py) and the bridge ÷ ceiling ratios")
    parser.add_argument("--write", action="store_true", help=f"replace the results section in {DOC.name}")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    command = " ".join(["python bench/bench_check_patient.py", shlex.join(sys.argv[1:])]).strip()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    patient = bench_patient()
    person = load_mapping(ROOT / "mappings" / "esia" / "account.yaml").to_upstream(patient)
    tree = args.tree.resolve()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-check-patient-") as tmp:
        work = Path(tmp)
        sandbox = start_sandbox_from(tree, work / "sandbox", ("esia",))
        bridges: dict[str, Bridge] = {}
        try:
            run = measure(args, tree, work, sandbox, bridges, patient, person)
        except SystemExit:
            for bridge in bridges.values():
                alive = "running" if bridge.process.poll() is None else f"exited with {bridge.process.returncode}"
                print(f"{bridge.label}: {alive}; its log ends with:\n{bridge.logs()[-2000:]}", file=sys.stderr)
            raise
        finally:
            for bridge in bridges.values():
                bridge.stop()
            sandbox.stop()
    section = render(args, run, machine(["wrk"]), command)
    print(f"\nwhole run: {time.monotonic() - started:.0f} s")
    print(section)
    if args.write:
        write_section(SECTION, section)
        print(f"\nwrote {DOC.relative_to(ROOT)}")


def measure(
    args: argparse.Namespace, tree: Path, work: Path, sandbox: Any, bridges: dict[str, Bridge],
    patient: dict[str, str], person: dict[str, Any],
) -> dict[str, Any]:
    run: dict[str, Any] = {"tree": describe_tree(tree), "bridges": bridges}
    adapter, smev, node = smev_settings(sandbox)
    signer_kind = smev["signer"]["kind"]
    run["signer"] = signer_kind
    esia = sandbox.sandbox_urls["esia"]
    reg_service = httpx.get(f"{esia}/_sandbox/reg-service", timeout=10).json()
    httpx.put(f"{esia}/_sandbox/reg-service", json={**reg_service, "delay_seconds": 0}, timeout=10).raise_for_status()

    def own_key(name: str) -> dict[str, Any]:
        """Settings that give a bridge a key of its own at the node (a response queue of its own)."""
        signer = registered_key(work / "keys" / name, node, signer_kind)
        return {"adapter_settings": {adapter: {"smev": {**smev, "signer": signer}}}}

    after = "afterN" if args.workers > 1 else "after1"
    if args.baseline != "none":
        baseline = export_tree(args.baseline, work / "baseline")
        subject = subprocess.run(["git", "log", "-1", "--format=%s", args.baseline], cwd=ROOT, capture_output=True,
                                 text=True).stdout.strip()
        run["baseline_subject"] = subject[:60] + ("…" if len(subject) > 60 else "")
        bridges["before"] = start_bridge_from(baseline, work / "before", "before", sandbox,
                                              workers=args.baseline_workers, log_level=args.log_level,
                                              extra=own_key("before"))
    bridges["after1"] = start_bridge_from(tree, work / "after1", "after ×1", sandbox, log_level=args.log_level,
                                          extra=own_key("after1"))
    if args.workers > 1:
        bridges["afterN"] = start_bridge_from(tree, work / "afterN", f"after ×{args.workers}", sandbox,
                                              workers=args.workers, log_level=args.log_level, extra=own_key("afterN"))
    if args.ceiling:
        bridges["ceiling"] = start_ceiling(tree, work / "ceiling", SmevTarget.of_sandbox(node, smev), args.workers)
    run["after"] = after
    before = "1 process" if args.baseline_workers == 1 else f"`--workers {args.baseline_workers}`"
    titles = {"before": f"before (`{args.baseline}`, {before})", "after1": "after, 1 process",
              "afterN": f"after, `--workers {args.workers}`",
              "ceiling": f"ceiling (`bench/_ceiling.py`{'' if args.workers == 1 else f', --workers {args.workers}'})"}
    sandbox_pid = sandbox.process.pid

    def sandbox_cpu() -> float:
        fields = Path(f"/proc/{sandbox_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def reset_sandbox() -> None:
        """Empty the sandbox's in-memory store between runs; with --match, seed the account again."""
        httpx.post(f"{esia}/_sandbox/reset", timeout=10).raise_for_status()
        if args.match:
            account = {k: person[k] for k in ("snils", "lastName", "firstName", "middleName",
                                              "birthDate", "gender", "mobile") if k in person}
            httpx.post(f"{esia}/_sandbox/accounts", json=account, timeout=10).raise_for_status()

    def all_cpu() -> float:
        return sandbox_cpu() + sum(b.cpu_seconds() for b in bridges.values())

    def settle(name: str) -> None:
        """Let every process go quiet before the next run (a bridge overloaded at a fixed rate
        works off its backlog for seconds after the generator stops)."""
        waited = wait_quiet(all_cpu)
        if waited > 2:
            print(f"  ({name}: {waited:.1f} s until every process was quiet again)", flush=True)

    reset_sandbox()
    expected = "MATCH" if args.match else "NOT_FOUND"
    direct_body = signed_get_response(registered_key(work / "keys" / "direct", node, signer_kind), smev)
    scenarios = {"direct": Scenario("direct", node + smev["endpoint"], "POST", GET_RESPONSE_HEADERS, direct_body,
                                    "GetResponseResponse")}
    probes: dict[str, dict[str, Callable[[], float]]] = {"direct": {"sandbox": sandbox_cpu}}
    labels = {"direct": "direct: one signed GetResponse (empty queue) → sandbox СМЭВ node"}
    for key, bridge in bridges.items():
        scenarios[f"bridged:{key}"] = Scenario(f"bridged-{key}", f"{bridge.url}/soap/{SERVICE}", "POST", SOAP_HEADERS,
                                               soap_envelope(patient), f"Result>{expected}</",
                                               vary_snils="" if args.match else patient["Snils"])
        probes[f"bridged:{key}"] = {"bridge": bridge.cpu_seconds, "sandbox": sandbox_cpu}
        labels[f"bridged:{key}"] = f"bridged: {titles[key]}"
        if key not in ("after1", "ceiling"):
            scenarios[f"wsdl:{key}"] = Scenario(f"wsdl-{key}", f"{bridge.url}/soap/{SERVICE}?wsdl", "GET", {}, None,
                                                "</wsdl:definitions>")
            probes[f"wsdl:{key}"] = {"bridge": bridge.cpu_seconds}
            labels[f"wsdl:{key}"] = f"wsdl: {titles[key]}"
    run["labels"] = labels
    outcomes = {verify(s) for name, s in scenarios.items() if name.startswith("bridged")}
    run["outcome"] = ", ".join(sorted(outcomes))
    run["rss"] = {key: [b.rss_mb()] for key, b in bridges.items()}
    print(f"ready: {', '.join(f'{b.label} {b.ready_s:.2f} s' for b in bridges.values())}; "
          f"checked answers ({run['outcome']})", flush=True)

    order = [name for name in scenarios if name.startswith("wsdl")] + ["direct"] + \
        [name for name in scenarios if name.startswith("bridged")]
    for name in order:  # warm-up, unrecorded
        run_wrk(scenarios[name], args, args.warmup, probes[name], work)
        reset_sandbox()
        settle(name)
    requests = 0
    sat: dict[str, list[WrkResult]] = {name: [] for name in order}
    for i in range(args.repeat):
        for name in order:
            result = run_wrk(scenarios[name], args, args.duration, probes[name], work)
            reset_sandbox()
            settle(name)
            sat[name].append(result)
            requests += result.requests
            cpu = "  ".join(f"{k} {v:.2f}" for k, v in result.cpu_ms_per_req.items())
            print(f"  {name:16} run {i + 1}: {result.rps:8,.0f} req/s  p50 {result.p50:6.2f}  p99 {result.p99:6.2f} ms"
                  f"  cpu ms/req: {cpu}  load {result.load:.1f}", flush=True)
    rate_order = [*(f"bridged:{k}" for k in ("ceiling", *bridges) if k in bridges and k != "after1")]
    rate_order = list(dict.fromkeys(rate_order)) or ["direct"]
    rate: dict[str, list[RateResult]] = {name: [] for name in rate_order}
    for i in range(args.repeat):
        for name in rate_order:
            r = run_fixed_rate(scenarios[name], args.rate, args.rate_duration, args.rate_warmup)
            reset_sandbox()
            settle(name)
            rate[name].append(r)
            requests += r.requests
            print(f"  {name:16} {args.rate:g}/s run {i + 1}: achieved {r.achieved:6.1f}/s  p50 {r.p50:6.2f}  "
                  f"p99 {r.p99:6.2f} ms  lag p99 {r.lag_p99:.2f} ms  load {r.load:.1f}", flush=True)
    run["processes"] = {key: (len(b.pids()), b.threads()) for key, b in bridges.items()}
    for key, bridge in bridges.items():
        run["rss"][key].append(bridge.rss_mb())
    run.update(sat=sat, rate=rate, requests=requests)
    run["log_lines"] = sum(len(b.logs().splitlines()) for b in bridges.values())
    if args.profile:  # the one-process bridge holds everything: request threads and the GetResponse runner
        run["profile"] = profile(bridges["after1"].pid, scenarios["bridged:after1"], args, work)
        if "ceiling" in bridges:
            ceiling = bridges["ceiling"]
            pid = max(ceiling.pids()) if args.workers > 1 else ceiling.pid
            run["ceiling_profile"] = profile(pid, scenarios["bridged:ceiling"], args, work)
    return run


if __name__ == "__main__":
    main()
