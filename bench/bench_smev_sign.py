"""ЭП-ОВ per second per signer: the detached СМЭВ XMLDSig of a SendRequest, and its verification.

Run from the repository root::

    .venv/bin/python bench/bench_smev_sign.py [--repeat 5] [--seconds 1.0] [--write [--doc PATH]]

For each signer (``python`` in-process, ``openssl`` one subprocess per signature; CryptoPro cannot be
installed here) a GOST key (paramset A) is made with ``openssl genpkey``; then, on one thread:

- ``sign``: ``sign_detached`` of a SendRequest's SenderProvidedRequestData carrying a
  find_account-sized ЕСИА request (exc-c14n + СМЭВ transform + Streebog digest, SignedInfo c14n, the raw
  signature);
- ``verify``: ``verify_detached`` of that signature against the trusted certificate;
- ``digest``: the reference digest alone (c14n + transform + Streebog), the share that is not the signer.

Each figure is the median over ``--repeat`` runs of ``--seconds`` each, with min–max, in operations per
second of wall time (the ``openssl`` signer spends its time in a child process) and the process's CPU
per operation.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _report import DOC, describe_tree, machine, machine_line, median, write_section  # noqa: E402
from lxml import etree  # noqa: E402

from bridge.signing import SignerConfig, generate_test_key, load_signer  # noqa: E402
from bridge.smev import DS, namespaces, new_message_id, reference_digest, sign_detached, verify_detached  # noqa: E402
from bridge.smev import _envelopes as envelopes  # noqa: E402

SECTION = "smev_sign"
PACKAGES = ("lxml", "gostcrypto")
ESIA = "urn://mincomsvyaz/esia/reg_service/find_account/1.4.1"


def _content() -> etree._Element:
    root = etree.Element(f"{{{ESIA}}}ESIAFindAccountRequest", nsmap={"r": ESIA})
    for name, value in (("RoutingCode", "TESIA"), ("SnilsOperator", "000-000-600 06"), ("ra", "1000000001"),
                        ("lastName", "Тарасенко"), ("firstName", "Ольга"), ("middleName", "Викторовна"),
                        ("mobile", "+7(916)0000000"), ("snils", "000-000-600 06")):
        etree.SubElement(root, f"{{{ESIA}}}{name}").text = value
    return root


def _rate(operation: Callable[[], object], seconds: float) -> tuple[float, float]:
    count, started, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        operation()
        count += 1
    wall = time.perf_counter() - started
    return count / wall, (time.process_time() - cpu) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--doc", type=Path, default=DOC)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-smev-"))
    key_pem, cert_pem = generate_test_key("A")
    (workdir / "key.pem").write_bytes(key_pem)
    os.chmod(workdir / "key.pem", 0o600)
    (workdir / "cert.pem").write_bytes(cert_pem)
    ns = namespaces("1.2")
    rows = []
    for kind in ("python", "openssl"):
        signer = load_signer(SignerConfig(kind=kind, key_file=workdir / "key.pem",  # type: ignore[arg-type]
                                          certificate_file=workdir / "cert.pem"))
        body = envelopes.send_request(ns, signer, new_message_id(datetime.now(UTC)), _content()).body
        request = etree.fromstring(body)
        data = request.find(f".//{{{ns.types}}}SenderProvidedRequestData")
        signature = request.find(f".//{{{DS}}}Signature")
        assert data is not None and signature is not None
        trusted = {signer.certificate_der}
        operations: dict[str, Callable[[], object]] = {
            "sign": lambda s=signer, d=data: sign_detached(d, s),
            "verify": lambda sig=signature, t=trusted: verify_detached(sig, trusted=t),
            "digest": lambda d=data: reference_digest(d),
        }
        for name, operation in operations.items():
            if kind == "openssl" and name != "sign":
                continue  # verification and digest do not depend on the signer
            runs = [_rate(operation, args.seconds) for _ in range(args.repeat)]
            rates = [r for r, _ in runs]
            cpu = median(c for _, c in runs)
            rows.append(f"| {kind if name == 'sign' else 'any'} | {name} | {median(rates):.0f} "
                        f"({min(rates):.0f}–{max(rates):.0f}) | {cpu:.1f} |")
    info = machine()
    text = "\n".join([
        f"Tree: {describe_tree()}. {machine_line(info, PACKAGES)}.",
        "",
        "| signer | operation | per second, median (min–max) | CPU ms per operation (this process) |",
        "| --- | --- | --- | --- |",
        *rows,
    ])
    print(text)
    if args.write:
        write_section(SECTION, text, args.doc)


if __name__ == "__main__":
    main()
