"""The CryptoPro CSP signer: ``csptest`` for raw signatures, ``cryptcp`` for CMS (esia.md §1.3, §6.5).

CryptoPro writes a raw signature in CryptoAPI's little-endian layout: OpenSSL's ``s || r`` with
every byte reversed. ЕСИА wants the OpenSSL layout ("развернуть зеркально, побайтово"), so the
bytes are reversed here. CMS from ``cryptcp`` is standard already (no reversal).

Both tools take the container PIN only on the command line (``-password`` / ``-pin``), where other
local users can see it in the process list; prefer a container whose PIN is stored in the CSP and
leave ``key_password`` unset.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bridge.signing._certs import certificate_thumbprint, load_certificate
from bridge.signing._errors import SigningError
from bridge.signing._process import run_tool

__all__ = ["CryptoProSigner"]


class CryptoProSigner:
    """Signs through CryptoPro CSP's command-line tools with a key held in a CSP container."""

    def __init__(
        self,
        container: str,
        certificate_file: Path,
        password: str | None = None,
        *,
        csptest_path: str = "csptest",
        cryptcp_path: str = "cryptcp",
    ) -> None:
        if not container:
            raise SigningError("the CryptoPro signer needs a container name")
        self.certificate_der = load_certificate(certificate_file)
        self._container = container
        self._password = password or None
        self._csptest = csptest_path
        self._cryptcp = cryptcp_path
        if shutil.which(csptest_path) is None:
            raise SigningError(f"CryptoPro csptest not found at {csptest_path!r} (is CryptoPro CSP installed?)")

    def _secrets(self) -> list[str]:
        return [self._password] if self._password else []

    def sign_raw(self, data: bytes) -> bytes:
        """``csptest -keyset -sign GOST12_256 …``, then the bytes reversed into OpenSSL's ``s || r``."""
        with tempfile.TemporaryDirectory(prefix="bridge-csp-") as name:
            workdir = Path(name)
            (workdir / "data.bin").write_bytes(data)
            argv = [
                self._csptest, *["-keyset", "-sign", "GOST12_256", "-container"], self._container,
                *["-keytype", "exchange", "-in", "data.bin", "-out", "signature.bin"],
            ]  # fmt: skip
            if self._password:
                argv += ["-password", self._password]
            run_tool(argv, what="csptest -keyset -sign", secrets=self._secrets(), cwd=workdir)
            try:
                signature = (workdir / "signature.bin").read_bytes()
            except OSError:
                raise SigningError("csptest -keyset -sign wrote no signature") from None
        if len(signature) != 64:
            raise SigningError(f"csptest returned {len(signature)} bytes, expected a 64-byte GOST12_256 signature")
        return signature[::-1]

    def sign_cms_detached(self, data: bytes) -> bytes:
        """``cryptcp -signf -detached -der -cert …`` with the certificate chosen by its SHA-1 thumbprint."""
        if shutil.which(self._cryptcp) is None:
            raise SigningError(f"CryptoPro cryptcp not found at {self._cryptcp!r} (is CryptoPro CSP installed?)")
        with tempfile.TemporaryDirectory(prefix="bridge-csp-") as name:
            workdir = Path(name)
            (workdir / "data.bin").write_bytes(data)
            argv = [
                self._cryptcp, *["-signf", "-norev", "-dir"], str(workdir), *["-der", "-strict", "-cert", "-detached"],
                "-thumbprint", certificate_thumbprint(self.certificate_der),
            ]  # fmt: skip
            if self._password:
                argv += ["-pin", self._password]
            argv.append("data.bin")
            run_tool(argv, what="cryptcp -signf", secrets=self._secrets(), cwd=workdir)
            try:
                return (workdir / "data.bin.sgn").read_bytes()
            except OSError:
                raise SigningError("cryptcp -signf wrote no data.bin.sgn") from None

    def __repr__(self) -> str:
        return f"CryptoProSigner(container={self._container!r})"
