"""Stand-in for CryptoPro CSP's ``csptest`` (CryptoPro cannot be installed on CI).

Accepts the command-line shapes the bridge and other ЕСИА libraries use::

    csptest -keyset -sign GOST12_256 -container NAME -keytype exchange -in DATA -out SIG [-password PIN]
    csptest -keyset -verify GOST12_256 -in DATA -signature SIG -certificate CERT

and writes/reads CryptoPro's raw layout: OpenSSL's ``s || r`` with every byte reversed. The key
"in the container" is a PKCS#8 file named by ``FAKE_CRYPTOPRO_KEY`` (with ``FAKE_CRYPTOPRO_CERT``);
``FAKE_CRYPTOPRO_CONTAINER`` is the only container that exists and ``FAKE_CRYPTOPRO_PIN``, when set,
its PIN. On failure it prints its whole command line, PIN included, to stderr — so the tests prove
the bridge masks whatever a tool echoes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bridge.signing import PythonSigner, load_certificate, verify_raw

OK = "[ErrorCode: 0x00000000]"
NO_CONTAINER = "[ErrorCode: 0x80090016]"  # NTE_BAD_KEYSET
WRONG_PIN = "[ErrorCode: 0x8010006b]"  # SCARD_W_WRONG_CHV
BAD_SIGNATURE = "[ErrorCode: 0x80090006]"  # NTE_BAD_SIGNATURE
USAGE = "[ErrorCode: 0x80070057]"  # E_INVALIDARG


def _fail(argv: list[str], code: str, text: str) -> int:
    print(f"csptest {' '.join(argv)}", file=sys.stderr)
    print(f"{text}\n{code}", file=sys.stderr)
    return 1


def _options(argv: list[str]) -> tuple[set[str], dict[str, str]]:
    flags = {"-keyset"}
    valued = {"-sign", "-verify", "-container", "-keytype", "-in", "-out", "-password", "-signature", "-certificate"}
    seen: set[str] = set()
    values: dict[str, str] = {}
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg in flags:
            seen.add(arg)
        elif arg in valued and index + 1 < len(argv):
            values[arg] = argv[index + 1]
            index += 1
        else:
            raise ValueError(f"unknown or incomplete option {arg}")
        index += 1
    return seen, values


def main(argv: list[str]) -> int:
    try:
        seen, values = _options(argv)
    except ValueError as exc:
        return _fail(argv, USAGE, str(exc))
    if "-keyset" not in seen:
        return _fail(argv, USAGE, "only -keyset is emulated")
    if values.get("-verify") == "GOST12_256":
        certificate = load_certificate(Path(values["-certificate"]))
        data = Path(values["-in"]).read_bytes()
        signature = Path(values["-signature"]).read_bytes()[::-1]  # CryptoPro layout → OpenSSL layout
        if not verify_raw(certificate, data, signature):
            return _fail(argv, BAD_SIGNATURE, "Signature verification failed")
        print(f"Signature was verified OK\n{OK}")
        return 0
    if values.get("-sign") != "GOST12_256" or values.get("-keytype") != "exchange":
        return _fail(argv, USAGE, "expected -sign GOST12_256 -keytype exchange")
    if values.get("-container") != os.environ["FAKE_CRYPTOPRO_CONTAINER"]:
        return _fail(argv, NO_CONTAINER, "Keyset does not exist")
    pin = os.environ.get("FAKE_CRYPTOPRO_PIN")
    if pin and values.get("-password") != pin:
        return _fail(argv, WRONG_PIN, "Wrong PIN")
    signer = PythonSigner.from_files(Path(os.environ["FAKE_CRYPTOPRO_KEY"]), Path(os.environ["FAKE_CRYPTOPRO_CERT"]))
    data = Path(values["-in"]).read_bytes()
    Path(values["-out"]).write_bytes(signer.sign_raw(data)[::-1])  # CryptoAPI writes little-endian
    print(f"Total: SYS: 0,010 sec USR: 0,020 sec UTC: 0,030 sec\n{OK}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
