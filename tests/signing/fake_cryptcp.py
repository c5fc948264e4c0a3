"""Stand-in for CryptoPro CSP's ``cryptcp`` detached signing (CryptoPro cannot be installed on CI).

Accepts ``cryptcp -signf -norev -dir DIR -der -strict -cert -detached -thumbprint SHA1 [-pin PIN] FILE``
and writes ``DIR/FILE.sgn``: a DER CMS SignedData with signed attributes (contentType, signingTime,
messageDigest), as cryptcp makes it. Environment as for ``fake_csptest.py``; the certificate must
match the thumbprint. On failure it echoes its command line (PIN included) to stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bridge.signing import PythonSigner
from bridge.signing._certs import certificate_thumbprint
from bridge.signing._cms import build_detached

FLAGS = {"-signf", "-norev", "-der", "-strict", "-cert", "-detached"}
VALUED = {"-dir", "-thumbprint", "-pin"}


def _fail(argv: list[str], text: str) -> int:
    print(f"cryptcp {' '.join(argv)}\n{text}\n[ErrorCode: 0x20000064]", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    values: dict[str, str] = {}
    seen: set[str] = set()
    files: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg in FLAGS:
            seen.add(arg)
        elif arg in VALUED and index + 1 < len(argv):
            values[arg] = argv[index + 1]
            index += 1
        elif arg.startswith("-"):
            return _fail(argv, f"unknown option {arg}")
        else:
            files.append(arg)
        index += 1
    if seen != FLAGS or len(files) != 1 or "-thumbprint" not in values:
        return _fail(argv, "expected -signf -norev -der -strict -cert -detached -thumbprint SHA1 FILE")
    pin = os.environ.get("FAKE_CRYPTOPRO_PIN")
    if pin and values.get("-pin") != pin:
        return _fail(argv, "Wrong PIN")
    signer = PythonSigner.from_files(Path(os.environ["FAKE_CRYPTOPRO_KEY"]), Path(os.environ["FAKE_CRYPTOPRO_CERT"]))
    if certificate_thumbprint(signer.certificate_der) != values["-thumbprint"].lower():
        return _fail(argv, "The certificate with this thumbprint was not found")
    source = Path(files[0])
    data = source.read_bytes()
    target = Path(values.get("-dir", str(source.parent))) / f"{source.name}.sgn"
    target.write_bytes(build_detached(signer.certificate_der, data, signer.sign_raw, signed_attributes=True))
    print("Signed message is created.\n[ErrorCode: 0x00000000]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
